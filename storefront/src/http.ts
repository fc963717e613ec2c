// One HTTP call to the shop's API, same origin as the page, and the error type every caller
// sees. Knows nothing about sessions: api.ts adds the access token and the refresh on 401.

/** Codes the page makes up itself, for answers that never came or were not the contract's JSON. */
export type LocalCode = "network" | "bad_response";

/** An API error in the contract's shape ({error, code, details?}), or a local stand-in for one. */
export class ApiError extends Error {
  constructor(
    readonly status: number, // 0 when no answer came at all
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> | undefined = undefined,
    readonly retryAfterSeconds: number | undefined = undefined,
  ) {
    super(message);
    this.name = "ApiError";
  }

  /**
   * Whether the request may have been applied, or may work if sent again unchanged: a lost
   * answer, a 429, a 5xx. A retry of such a request keeps its Idempotency-Key.
   */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

export interface Answer<T> {
  status: number;
  body: T;
}

export interface SendOptions {
  body?: unknown;
  token?: string;
  idempotencyKey?: string;
}

// The gateway gives up on an upstream after 35 s; wait a little longer than that.
const TIMEOUT_MS = 40_000;

export async function send<T>(method: string, path: string, options: SendOptions = {}): Promise<Answer<T>> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (options.token) headers["Authorization"] = `Bearer ${options.token}`;
  if (options.idempotencyKey) headers["Idempotency-Key"] = options.idempotencyKey;

  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      cache: "no-store",
      credentials: "omit", // the API authenticates with the bearer token only
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch {
    throw new ApiError(0, "network", "Could not reach the shop. Check your connection and try again.");
  }

  const parsed = await readJson(response);
  if (response.ok) return { status: response.status, body: parsed as T };
  throw toError(response, parsed);
}

async function readJson(response: Response): Promise<unknown> {
  if (response.status === 204) return undefined;
  try {
    return await response.json();
  } catch {
    return undefined;
  }
}

function toError(response: Response, body: unknown): ApiError {
  const retryAfter = parseRetryAfter(response.headers.get("Retry-After"));
  if (!isErrorBody(body)) {
    return new ApiError(response.status, "bad_response", `The shop answered ${response.status}. Please try again.`,
      undefined, retryAfter);
  }
  let message = body.error;
  // outcome_unknown's own message speaks of Idempotency-Keys; a shopper needs the consequence.
  if (body.code === "outcome_unknown") {
    message = "We could not confirm whether this went through. Try again: it will not be applied twice.";
  }
  const details = body.details && typeof body.details === "object" ? (body.details as Record<string, unknown>) : undefined;
  return new ApiError(response.status, body.code, message, details, retryAfter);
}

function isErrorBody(body: unknown): body is { error: string; code: string; details?: unknown } {
  return typeof body === "object" && body !== null
    && typeof (body as { error?: unknown }).error === "string"
    && typeof (body as { code?: unknown }).code === "string";
}

/** Retry-After is either a number of seconds or an HTTP date. */
export function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** Any thrown value as an ApiError, so every handler shows a message the same way. */
export function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  console.warn("unexpected error", error);
  return new ApiError(0, "bad_response", "Something went wrong. Please try again.");
}
