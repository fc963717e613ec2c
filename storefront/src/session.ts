// The login session: the access token lives in memory only, the refresh token in localStorage
// (so a reload can get a new access token without the password, which is never kept).
//
// Refresh tokens are single use and a reused one revokes the whole session (CONTRACT.md, Users),
// so every refresh, in this tab or another one of the same origin, goes through one lock and
// always spends the newest stored token.
import { ApiError, send } from "./http";

const REFRESH_KEY = "shop.refreshToken";
// Refresh this long before the access token expires, so requests rarely meet a 401.
const EARLY_MS = 30_000;

interface Tokens {
  accessToken: string;
  refreshToken: string;
  tokenType: string;
  expiresIn: number;
}

export type EndReason = "logged-out" | "expired" | "elsewhere";
type Listener = (signedIn: boolean, reason?: EndReason) => void;

let accessToken: string | null = null;
let accessExpiresAt = 0;
let refreshTimer: number | undefined;
let inFlight: Promise<string> | null = null;
// Where the refresh token goes when localStorage is refused (the session then ends with the tab).
let memoryRefresh: string | null = null;
const listeners: Listener[] = [];

export function onChange(listener: Listener): void {
  listeners.push(listener);
}

function emit(signedIn: boolean, reason?: EndReason): void {
  for (const listener of listeners) listener(signedIn, reason);
}

export function hasStoredSession(): boolean {
  return readStored() !== null;
}

function readStored(): string | null {
  try {
    return localStorage.getItem(REFRESH_KEY);
  } catch {
    return null; // storage disabled: the session then lasts as long as the tab
  }
}

function store(tokens: Tokens): void {
  accessToken = tokens.accessToken;
  accessExpiresAt = Date.now() + tokens.expiresIn * 1000;
  try {
    localStorage.setItem(REFRESH_KEY, tokens.refreshToken);
  } catch {
    memoryRefresh = tokens.refreshToken;
  }
  window.clearTimeout(refreshTimer);
  const wait = Math.max(5_000, tokens.expiresIn * 1000 - EARLY_MS);
  // A failed early refresh is not an error here: the next request retries on its 401.
  refreshTimer = window.setTimeout(() => void refresh().catch(() => undefined), wait);
}

/** Forgets every token locally and tells the page; the server side is logout()'s business. */
function forget(reason: EndReason): void {
  const wasSignedIn = accessToken !== null || readStored() !== null || memoryRefresh !== null;
  accessToken = null;
  accessExpiresAt = 0;
  memoryRefresh = null;
  window.clearTimeout(refreshTimer);
  try {
    localStorage.removeItem(REFRESH_KEY);
  } catch {
    /* nothing stored */
  }
  if (wasSignedIn) emit(false, reason);
}

export async function login(loginName: string, password: string): Promise<void> {
  const { body } = await send<{ data: Tokens }>("POST", "/api/v1/users/login", {
    body: { login: loginName, password },
  });
  store(body.data);
  emit(true);
}

/** After a reload: trades the stored refresh token for an access token (throws as refresh does). */
export async function resume(): Promise<void> {
  await refresh();
  emit(true);
}

/** A valid access token, refreshing first when it is missing or about to expire. */
export async function accessTokenNow(): Promise<string> {
  if (accessToken && Date.now() < accessExpiresAt - 5_000) return accessToken;
  return refresh();
}

/**
 * Spends the stored refresh token for a new pair. A 400 or 401 means the session is over: the
 * page logs out cleanly. Any other failure (network, 429, 5xx) keeps the stored token so a retry
 * can work, and is thrown for the caller to show.
 */
export function refresh(): Promise<string> {
  // One refresh at a time in this tab: concurrent 401s share it.
  inFlight ??= withLock(refreshOnce).finally(() => {
    inFlight = null;
  });
  return inFlight;
}

async function refreshOnce(): Promise<string> {
  const refreshToken = readStored() ?? memoryRefresh;
  if (!refreshToken) {
    forget("expired");
    throw new ApiError(401, "unauthorized", "Your session has ended. Please log in again.");
  }
  try {
    const { body } = await send<{ data: Tokens }>("POST", "/api/v1/users/refresh", { body: { refreshToken } });
    store(body.data);
    return body.data.accessToken;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 400)) {
      forget("expired");
      throw new ApiError(401, "unauthorized", "Your session has ended. Please log in again.");
    }
    throw error;
  }
}

// Web Locks serialise refreshes across tabs; they exist only in secure contexts (https, localhost).
async function withLock<T>(work: () => Promise<T>): Promise<T> {
  if (!("locks" in navigator)) return work();
  return navigator.locks.request("shop-refresh", work);
}

/** Ends the session here at once, then revokes it on the server (best effort). */
export async function logout(): Promise<void> {
  const refreshToken = readStored() ?? memoryRefresh;
  const token = accessToken && Date.now() < accessExpiresAt - 5_000 ? accessToken : null;
  forget("logged-out");
  if (!refreshToken) return;
  try {
    let bearer = token;
    let spend = refreshToken;
    if (!bearer) {
      // Logout needs a bearer: trade the refresh token for a fresh pair, then revoke that.
      const { body } = await send<{ data: Tokens }>("POST", "/api/v1/users/refresh", { body: { refreshToken } });
      bearer = body.data.accessToken;
      spend = body.data.refreshToken;
    }
    await send("POST", "/api/v1/users/logout", { token: bearer, body: { refreshToken: spend } });
  } catch {
    // The page is logged out either way; the server forgets the session when it expires.
  }
}

// Another tab logged out (the stored token vanished): follow it.
window.addEventListener("storage", (event) => {
  if (event.key === REFRESH_KEY && event.newValue === null && accessToken !== null) forget("elsewhere");
  if (event.key === null && accessToken !== null) forget("elsewhere"); // localStorage.clear()
});
