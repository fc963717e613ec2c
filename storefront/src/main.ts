// The storefront: one page, no client routing. index.html holds the markup (every input with
// its label, every message region next to what it is about); this module wires it to the API.
import "./style.css";
import * as admin from "./admin";
import * as api from "./api";
import * as catalogue from "./catalogue";
import { ApiError, asApiError } from "./http";
import * as idempotency from "./idempotency";
import { AMOUNT_HINT, formatMoney, parseMoney } from "./money";
import { NotificationFeed, type Snapshot } from "./notifications";
import { generatePassword } from "./random";
import * as session from "./session";
import { byId, clearFieldErrors, describe, fieldError, h, run, say, showFieldErrors, timeElement } from "./ui";

const el = {
  sessionBar: byId("session-bar"),
  whoami: byId("whoami"),
  unreadBadge: byId("unread-badge"),
  logout: byId<HTMLButtonElement>("logout-button"),
  globalText: byId("global-text"),
  globalRetry: byId<HTMLButtonElement>("global-retry"),
  signedOut: byId("signed-out"),
  signedIn: byId("signed-in"),
  loginHeading: byId("login-heading"),
  loginForm: byId<HTMLFormElement>("login-form"),
  loginName: byId<HTMLInputElement>("login-name"),
  loginPassword: byId<HTMLInputElement>("login-password"),
  loginButton: byId<HTMLButtonElement>("login-button"),
  loginStatus: byId("login-status"),
  signupForm: byId<HTMLFormElement>("signup-form"),
  signupLogin: byId<HTMLInputElement>("signup-login"),
  signupEmail: byId<HTMLInputElement>("signup-email"),
  ownPasswordField: byId("own-password-field"),
  signupPassword: byId<HTMLInputElement>("signup-password"),
  signupButton: byId<HTMLButtonElement>("signup-button"),
  signupStatus: byId("signup-status"),
  newPassword: byId("new-password"),
  newPasswordHeading: byId("new-password-heading"),
  generatedPassword: byId<HTMLInputElement>("generated-password"),
  copyPassword: byId<HTMLButtonElement>("copy-password"),
  copyStatus: byId("copy-status"),
  dismissPassword: byId<HTMLButtonElement>("dismiss-password"),
  accountHeading: byId("account-heading"),
  balance: byId<HTMLOutputElement>("balance"),
  refreshAccount: byId<HTMLButtonElement>("refresh-account"),
  accountStatus: byId("account-status"),
  topupForm: byId<HTMLFormElement>("topup-form"),
  topupAmount: byId<HTMLInputElement>("topup-amount"),
  topupHint: byId("topup-amount-hint"),
  topupButton: byId<HTMLButtonElement>("topup-button"),
  topupStatus: byId("topup-status"),
  refreshOrders: byId<HTMLButtonElement>("refresh-orders"),
  ordersStatus: byId("orders-status"),
  ordersEmpty: byId("orders-empty"),
  orderList: byId<HTMLUListElement>("order-list"),
  olderOrders: byId<HTMLButtonElement>("older-orders"),
  unreadSummary: byId("unread-summary"),
  markRead: byId<HTMLButtonElement>("mark-read"),
  checkNotifications: byId<HTMLButtonElement>("check-notifications"),
  notificationsStatus: byId("notifications-status"),
  notificationList: byId<HTMLUListElement>("notification-list"),
};

// ---- State of the signed-in page. `generation` changes at every sign-in and sign-out, so an
// answer that arrives after the person left is dropped instead of shown to the next one.
let generation = 0;
let feed: NotificationFeed | null = null;
let orders: api.Order[] = [];
let ordersCursor: string | null = null;
let olderLoaded = false;
const orderItems = new Map<string, HTMLLIElement>();
// Sequence numbers: an older read never overwrites what a newer answer showed.
let balanceSeq = 0;
let balanceShown = 0;
let ordersSeq = 0;
let ordersShown = 0;

// ---- Messages for the whole page (session restored, ended, unreachable).

function announce(text: string, retry?: () => void): void {
  say(el.globalText, text, retry ? "error" : "info");
  el.globalRetry.hidden = !retry;
  el.globalRetry.onclick = retry ? () => retry() : null;
}

// ---- Signing in and out.

session.onChange((signedIn, reason) => {
  if (signedIn) void enterSignedIn();
  else leaveSignedIn(reason);
});

async function enterSignedIn(): Promise<void> {
  const mine = ++generation;
  announce("");
  for (const region of el.signedIn.querySelectorAll<HTMLElement>(".message")) say(region, "");
  el.signedOut.hidden = true;
  el.signedIn.hidden = false;
  el.sessionBar.hidden = false;
  catalogue.sessionChanged();
  el.accountHeading.focus();
  void loadAccount();
  void loadOrders();
  try {
    const profile = await api.me();
    if (mine !== generation) return;
    el.whoami.textContent = `Signed in as ${profile.login}`;
    admin.show(profile.roles.includes("admin"));
    feed?.stop();
    feed = new NotificationFeed(profile.id, showNotifications);
    feed.start();
  } catch (thrown) {
    const error = asApiError(thrown);
    if (mine !== generation || error.status === 401) return;
    announce(`Could not load your profile: ${describe(error)}`, () => void enterSignedIn());
  }
}

function leaveSignedIn(reason: session.EndReason | undefined): void {
  generation += 1;
  feed?.stop();
  feed = null;
  idempotency.forgetAll();
  orders = [];
  ordersCursor = null;
  olderLoaded = false;
  orderItems.clear();
  el.orderList.replaceChildren();
  el.notificationList.replaceChildren();
  el.balance.value = "…";
  el.whoami.textContent = "";
  setUnread(0);
  hideGeneratedPassword();
  admin.show(false);
  catalogue.clearCart();
  el.signedIn.hidden = true;
  el.sessionBar.hidden = true;
  el.signedOut.hidden = false;
  const messages: Record<session.EndReason, string> = {
    "logged-out": "You are logged out.",
    expired: "Your session has ended. Please log in again.",
    elsewhere: "You logged out in another tab.",
  };
  announce(reason ? messages[reason] : "");
  el.loginHeading.focus();
}

el.logout.addEventListener("click", () => {
  void run(el.logout, el.globalText, () => session.logout());
});

el.loginForm.addEventListener("submit", (event) => {
  event.preventDefault();
  void run(el.loginButton, el.loginStatus, async () => {
    clearFieldErrors(el.loginName, el.loginPassword);
    const loginName = el.loginName.value.trim();
    const password = el.loginPassword.value;
    if (!loginName) fieldError(el.loginName, "Enter your login.");
    if (!password) fieldError(el.loginPassword, "Enter your password.");
    if (focusFirstInvalid(el.loginForm)) return;
    say(el.loginStatus, "Logging in…");
    await session.login(loginName, password);
    el.loginForm.reset(); // the password is not kept anywhere
  }, (error) => showFieldErrors(error, { login: el.loginName, password: el.loginPassword }));
});

// ---- Signing up.

for (const radio of el.signupForm.querySelectorAll<HTMLInputElement>('input[name="password-mode"]')) {
  radio.addEventListener("change", () => {
    el.ownPasswordField.hidden = passwordMode() !== "own";
  });
}

function passwordMode(): "generate" | "own" {
  const checked = el.signupForm.querySelector<HTMLInputElement>('input[name="password-mode"]:checked');
  return checked?.value === "own" ? "own" : "generate";
}

const LOGIN_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$/;
const EMAIL_PATTERN = /^[^@\s]+@[^@\s.][^@\s]*\.[^@\s.]+$/; // the API's own (openapi.yaml)

// A sign-up whose answer was lost may have created the account: its retry reuses the same
// generated password, and a 409 then means "already done", checked by logging in with it.
let lastSignup: { login: string; password: string; generated: boolean; uncertain: boolean } | null = null;

el.signupForm.addEventListener("submit", (event) => {
  event.preventDefault();
  void run(el.signupButton, el.signupStatus, signUp, (error) => {
    if (error.status === 409) {
      fieldError(el.signupLogin, describe(error)); // a taken login
      el.signupLogin.focus();
      return true;
    }
    return showFieldErrors(error, { login: el.signupLogin, email: el.signupEmail, password: el.signupPassword });
  });
});

async function signUp(): Promise<void> {
  clearFieldErrors(el.signupLogin, el.signupEmail, el.signupPassword);
  const loginName = el.signupLogin.value.trim();
  const email = el.signupEmail.value.trim();
  const generated = passwordMode() === "generate";
  if (!LOGIN_PATTERN.test(loginName)) {
    fieldError(el.signupLogin, "Choose a login of 3 to 64 letters, digits, “.”, “_” or “-”, starting with a letter or digit.");
  }
  if (email && !EMAIL_PATTERN.test(email)) fieldError(el.signupEmail, "Enter an email address such as name@example.com, or leave it empty.");
  if (!generated && (el.signupPassword.value.length < 8 || el.signupPassword.value.length > 128)) {
    fieldError(el.signupPassword, "Choose a password of 8 to 128 characters.");
  }
  if (focusFirstInvalid(el.signupForm)) return;

  const retry = lastSignup?.uncertain && lastSignup.login === loginName && lastSignup.generated === generated;
  const password = retry && generated ? lastSignup!.password : generated ? generatePassword() : el.signupPassword.value;
  lastSignup = { login: loginName, password, generated, uncertain: false };

  say(el.signupStatus, "Creating your account…");
  let taken: ApiError | null = null;
  try {
    await api.register({ login: loginName, password, ...(email ? { email } : {}) });
  } catch (thrown) {
    const error = asApiError(thrown);
    if (!(retry && error.status === 409)) {
      lastSignup.uncertain = error.retryable;
      throw error;
    }
    taken = error; // by our own earlier, unanswered attempt, or by someone else: login tells
  }
  lastSignup = null;
  try {
    await session.login(loginName, password);
  } catch (thrown) {
    const error = asApiError(thrown);
    if (taken && error.status === 401) throw taken;
    // The account exists; never lose a generated password because the first login failed.
    if (generated) showGeneratedPassword(password);
    el.loginName.value = loginName;
    throw new ApiError(0, "login_failed", `Your account was created, but logging in failed: ${describe(error)} Please log in.`);
  }
  el.signupForm.reset();
  el.ownPasswordField.hidden = true;
  if (generated) showGeneratedPassword(password);
}

function showGeneratedPassword(password: string): void {
  el.generatedPassword.value = password;
  say(el.copyStatus, "");
  el.newPassword.hidden = false;
  el.newPasswordHeading.focus();
}

function hideGeneratedPassword(): void {
  el.generatedPassword.value = "";
  el.newPassword.hidden = true;
}

el.copyPassword.addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(el.generatedPassword.value);
    say(el.copyStatus, "Copied to the clipboard.", "success");
  } catch {
    // No clipboard access (insecure context, or refused): let the person copy it by hand.
    el.generatedPassword.select();
    say(el.copyStatus, "Copying is not allowed here: the password is selected, copy it with Ctrl+C (⌘C on a Mac).");
  }
});

el.dismissPassword.addEventListener("click", () => {
  hideGeneratedPassword();
  (el.signedIn.hidden ? el.loginHeading : el.accountHeading).focus();
});

// ---- Account and top-up.

async function loadAccount(): Promise<void> {
  const mine = generation;
  const seq = ++balanceSeq;
  try {
    const account = await api.myAccount();
    if (mine === generation) showBalance(account.balance, seq);
  } catch (thrown) {
    const error = asApiError(thrown);
    if (mine === generation && error.status !== 401) say(el.accountStatus, `Could not load your balance: ${describe(error)}`, "error");
    throw error;
  }
}

function showBalance(minor: number, seq: number): void {
  if (seq < balanceShown) return;
  balanceShown = seq;
  el.balance.value = formatMoney(minor);
  say(el.accountStatus, "");
}

el.refreshAccount.addEventListener("click", () => {
  void run(el.refreshAccount, el.accountStatus, loadAccount, () => true);
});

el.topupHint.textContent = `Enter ${AMOUNT_HINT}.`;

el.topupForm.addEventListener("submit", (event) => {
  event.preventDefault();
  void run(el.topupButton, el.topupStatus, async () => {
    clearFieldErrors(el.topupAmount);
    const amount = parseMoney(el.topupAmount.value);
    if (amount === null) {
      fieldError(el.topupAmount, `Enter ${AMOUNT_HINT}.`);
      el.topupAmount.focus();
      return;
    }
    say(el.topupStatus, `Adding ${formatMoney(amount)}…`);
    const seq = ++balanceSeq;
    const mine = generation;
    const account = await idempotency.submit("deposit", { amount }, (key) => api.deposit(amount, key));
    if (mine !== generation) return;
    showBalance(account.balance, seq);
    el.topupAmount.value = "";
    say(el.topupStatus, `Added ${formatMoney(amount)}. Your balance is ${formatMoney(account.balance)}.`, "success");
  }, (error) => showFieldErrors(error, { amount: el.topupAmount }));
});

// ---- The catalogue and the cart (catalogue.ts), and the orders.

catalogue.start({
  signedIn: () => !el.signedIn.hidden,
  askToSignIn: () => el.loginName.focus(),
  ordered: (order) => {
    upsertOrder(order);
    void loadAccount().catch(() => undefined);
    feed?.activity();
  },
});
admin.start(() => void catalogue.load().catch(() => undefined));

async function loadOrders(): Promise<void> {
  const mine = generation;
  const seq = ++ordersSeq;
  try {
    const page = await api.orders();
    if (mine !== generation || seq < ordersShown) return;
    ordersShown = seq;
    // Keep pages already loaded with "Show older orders" below the fresh first page.
    const fresh = new Set(page.data.map((order) => order.id));
    orders = olderLoaded ? [...page.data, ...orders.filter((order) => !fresh.has(order.id))] : page.data;
    if (!olderLoaded) ordersCursor = page.nextCursor ?? null;
    say(el.ordersStatus, "");
    renderOrders();
  } catch (thrown) {
    const error = asApiError(thrown);
    if (mine === generation && error.status !== 401) say(el.ordersStatus, `Could not load your orders: ${describe(error)}`, "error");
    throw error;
  }
}

el.refreshOrders.addEventListener("click", () => {
  void run(el.refreshOrders, el.ordersStatus, loadOrders, () => true);
});

el.olderOrders.addEventListener("click", () => {
  void run(el.olderOrders, el.ordersStatus, async () => {
    if (!ordersCursor) return;
    const mine = generation;
    const page = await api.orders(ordersCursor);
    if (mine !== generation) return;
    const known = new Set(orders.map((order) => order.id));
    orders = [...orders, ...page.data.filter((order) => !known.has(order.id))];
    ordersCursor = page.nextCursor ?? null;
    olderLoaded = true;
    renderOrders();
  });
});

function upsertOrder(order: api.Order): void {
  const index = orders.findIndex((known) => known.id === order.id);
  if (index >= 0) orders[index] = order;
  else orders = [order, ...orders];
  renderOrders();
}

const STATUS_TEXT: Record<api.OrderStatus, string> = {
  pending: "Pending: payment being confirmed",
  created: "Created",
  rejected: "Rejected: not enough money",
  cancelled: "Cancelled",
};

/**
 * Updates the list in place, item by item, so a button that has focus (or a message being
 * read) is not destroyed by a refresh.
 */
function renderOrders(): void {
  const wanted = orders.map((order) => {
    let item = orderItems.get(order.id);
    if (!item) {
      item = h("li", { class: "order" });
      orderItems.set(order.id, item);
    }
    fillOrderItem(item, order);
    return item;
  });
  let cursor = el.orderList.firstElementChild;
  for (const item of wanted) {
    if (item === cursor) cursor = cursor.nextElementSibling;
    else el.orderList.insertBefore(item, cursor);
  }
  while (cursor) {
    const next = cursor.nextElementSibling;
    cursor.remove();
    cursor = next;
  }
  el.ordersEmpty.hidden = orders.length > 0;
  el.olderOrders.hidden = !ordersCursor;
}

function fillOrderItem(item: HTMLLIElement, order: api.Order): void {
  const stamp = `${order.status}|${order.title}|${order.price}`;
  if (item.dataset["stamp"] === stamp) return;
  item.dataset["stamp"] = stamp;
  const hadFocus = item.contains(document.activeElement);
  // The message region outlives re-renders: it may be telling how a cancel went.
  const status = item.querySelector<HTMLElement>(".message") ?? h("p", { class: "message", "aria-live": "polite", tabindex: "-1" });
  const cancellable = order.status === "created" || order.status === "pending";
  let cancel: HTMLButtonElement | null = null;
  if (cancellable) {
    const button = h("button", { type: "button", class: "button secondary" },
      "Cancel", h("span", { class: "visually-hidden" }, ` order ${order.title}`));
    button.addEventListener("click", () => void run(button, status, () => cancelOrder(order, status, item)));
    cancel = button;
  }
  const parts: Node[] = [
    h("div", { class: "order-main" },
      h("span", { class: "order-title" }, order.title),
      h("span", { class: "order-price" }, formatMoney(order.price)),
      timeElement(order.createdAt)),
    h("span", { class: `status status-${order.status}` }, STATUS_TEXT[order.status]),
  ];
  if (cancel) parts.push(cancel);
  item.replaceChildren(...parts, status);
  if (hadFocus) (cancel ?? status).focus();
}

async function cancelOrder(order: api.Order, status: HTMLElement, item: HTMLLIElement): Promise<void> {
  const mine = generation;
  say(status, `Cancelling ${order.title}…`);
  try {
    const answer = await idempotency.submit(`cancel:${order.id}`, {}, (key) => api.cancelOrder(order.id, key));
    if (mine !== generation) return;
    say(status, answer.status === 202
      ? `Cancelled. ${formatMoney(order.price)} will be back in your account shortly.`
      : `Cancelled. ${formatMoney(order.price)} is back in your account.`, "success");
    upsertOrder(answer.body.data);
    if (!item.contains(document.activeElement)) status.focus();
    void loadAccount().catch(() => undefined);
  } catch (thrown) {
    // 409: it was cancelled or rejected meanwhile; show the order as it stands.
    if (asApiError(thrown).status === 409) void loadOrders().catch(() => undefined);
    throw thrown;
  } finally {
    feed?.activity();
  }
}

// ---- Notifications.

function showNotifications(snapshot: Snapshot): void {
  if (snapshot.error) {
    say(el.notificationsStatus, `Could not check for notifications: ${describe(snapshot.error)} Retrying by itself.`, "error");
  } else {
    say(el.notificationsStatus, "");
  }
  el.notificationList.replaceChildren(...snapshot.items.map((item) => {
    const unread = snapshot.unread.has(item.id);
    return h("li", { class: unread ? "unread" : "" },
      unread ? h("span", { class: "new-tag" }, "New") : null,
      h("span", { class: "feed-text" }, item.text),
      timeElement(item.createdAt));
  }));
  setUnread(snapshot.unread.size);
  const count = snapshot.items.length;
  el.unreadSummary.textContent = count === 0
    ? "No notifications yet."
    : `${snapshot.unread.size} unread of ${count} notification${count === 1 ? "" : "s"}.`;
  // A notification means an order changed: show the order and the balance as they are now.
  const pending = orders.some((order) => order.status === "pending");
  if (snapshot.arrived || pending) void loadOrders().catch(() => undefined);
  if (snapshot.arrived) void loadAccount().catch(() => undefined);
}

function setUnread(count: number): void {
  el.unreadBadge.textContent = `${count} unread`;
  el.unreadBadge.dataset["count"] = String(count);
  document.title = count > 0 ? `(${count}) Shop` : "Shop";
}

el.markRead.addEventListener("click", () => feed?.markAllRead());
el.checkNotifications.addEventListener("click", () => feed?.checkNow());

// ---- Helpers and start.

/** Focuses the form's first input marked invalid; true when there was one. */
function focusFirstInvalid(form: HTMLFormElement): boolean {
  const invalid = form.querySelector<HTMLInputElement>('[aria-invalid="true"]');
  invalid?.focus();
  return invalid !== null;
}

async function start(): Promise<void> {
  if (!session.hasStoredSession()) {
    el.signedOut.hidden = false;
    return;
  }
  announce("Restoring your session…");
  try {
    await session.resume();
  } catch (thrown) {
    const error = asApiError(thrown);
    if (error.status === 401) return; // the session ended: the listener shows the login form
    // Not reachable now: keep the stored session and offer to try again.
    el.signedOut.hidden = false;
    announce(`Could not restore your session: ${describe(error)}`, () => void start());
  }
}

void start();
