// The catalogue and the cart, for everyone: what the shop sells, at what price and how many are
// left, and a cart of several products that becomes one order once the person is signed in.
// The shop prices the order itself; the totals here are what the catalogue showed.
import * as api from "./api";
import { asApiError, type ApiError } from "./http";
import * as idempotency from "./idempotency";
import { formatMoney } from "./money";
import { byId, describe, h, hidden, run, say } from "./ui";

/** What the rest of the page does around an order. */
export interface Hooks {
  signedIn(): boolean;
  /** A sign-in is needed to order: show the login form. */
  askToSignIn(): void;
  /** The order answered (created, pending, or a repeat), or refused for want of money. */
  ordered(order: api.Order): void;
}

const el = {
  heading: byId("catalogue-heading"),
  status: byId("catalogue-status"),
  list: byId<HTMLUListElement>("catalogue"),
  more: byId<HTMLButtonElement>("more-products"),
  refresh: byId<HTMLButtonElement>("refresh-catalogue"),
  cartHeading: byId("cart-heading"),
  cartEmpty: byId("cart-empty"),
  cartLines: byId<HTMLUListElement>("cart-lines"),
  cartTotalLine: byId("cart-total-line"),
  cartTotal: byId<HTMLOutputElement>("cart-total"),
  placeOrder: byId<HTMLButtonElement>("place-order"),
  cartStatus: byId("cart-status"),
};

const MAX_QUANTITY = 100; // per line (CONTRACT.md)
const MAX_LINES = 20;

let hooks: Hooks;
/** Products as last seen (listed, or named by an answer), by id; `shown` is the listing. */
const known = new Map<string, api.Product>();
let shown: string[] = [];
let cursor: string | null = null;
/** How many pages "Show more products" has loaded: a refresh reloads as many. */
let pages = 1;
/** The cart: product id -> quantity, in the order added. */
const cart = new Map<string, number>();
/** What the last refused order said of each product: how many were left. */
const shortOf = new Map<string, number>();

export function start(pageHooks: Hooks): void {
  hooks = pageHooks;
  el.refresh.addEventListener("click", () => void run(el.refresh, el.status, () => load()));
  el.more.addEventListener("click", () => void run(el.more, el.status, more));
  el.placeOrder.addEventListener("click", () => void run(el.placeOrder, el.cartStatus, placeOrder));
  renderCart();
  void load().catch(() => undefined);
}

/** Loads the catalogue afresh, as many pages as are shown, and shows it. */
export async function load(): Promise<void> {
  try {
    const ids: string[] = [];
    let next: string | undefined;
    for (let page = 0; page < pages; page += 1) {
      const answer = await api.products(next);
      for (const product of answer.data) {
        known.set(product.id, product);
        if (!ids.includes(product.id)) ids.push(product.id);
      }
      next = answer.nextCursor ?? undefined;
      if (!next) break;
    }
    shown = ids;
    cursor = next ?? null;
    say(el.status, shown.length ? "" : "Nothing is for sale yet.");
    renderCatalogue();
    renderCart();
  } catch (thrown) {
    const error = asApiError(thrown);
    say(el.status, `Could not load the catalogue: ${describe(error)}`, "error");
    throw error;
  }
}

/** Shows the next page of the catalogue below those shown. */
async function more(): Promise<void> {
  if (!cursor) return;
  const answer = await api.products(cursor);
  for (const product of answer.data) known.set(product.id, product);
  shown = [...shown, ...answer.data.map((product) => product.id).filter((id) => !shown.includes(id))];
  cursor = answer.nextCursor ?? null;
  pages += 1;
  renderCatalogue();
}

/** After a sign-in or sign-out: the cart's button says what it will do. */
export function sessionChanged(): void {
  renderCart();
}

/** Empties the cart (at logout: it was that person's). */
export function clearCart(): void {
  cart.clear();
  shortOf.clear();
  idempotency.forgetAll();
  say(el.cartStatus, "");
  renderCart();
}

function left(product: api.Product): string {
  if (!product.active) return "No longer sold";
  return product.available > 0 ? `${product.available} left` : "Out of stock";
}

/**
 * Updates the list item by item, so a control that has focus (or a message being read) survives
 * a refresh.
 */
function renderCatalogue(): void {
  const items = shown.map((id) => productItem(id));
  let at = el.list.firstElementChild;
  for (const item of items) {
    if (item === at) at = at.nextElementSibling;
    else el.list.insertBefore(item, at);
  }
  while (at) {
    const next = at.nextElementSibling;
    at.remove();
    at = next;
  }
  el.more.hidden = !cursor;
}

const productItems = new Map<string, HTMLLIElement>();

function productItem(id: string): HTMLLIElement {
  const product = known.get(id)!;
  let item = productItems.get(id);
  if (!item) {
    item = buildProductItem(id);
    productItems.set(id, item);
  }
  const soldOut = !product.active || product.available < 1;
  item.querySelector("h3")!.textContent = product.title;
  item.querySelector(".blurb")!.textContent = product.description;
  item.querySelector(".price")!.textContent = formatMoney(product.price);
  const stock = item.querySelector<HTMLElement>(".stock")!;
  stock.textContent = left(product);
  stock.dataset["soldOut"] = String(soldOut);
  const quantity = item.querySelector<HTMLInputElement>("input")!;
  quantity.max = String(Math.max(1, Math.min(MAX_QUANTITY, product.available)));
  const add = item.querySelector<HTMLButtonElement>("button")!;
  add.hidden = soldOut;
  quantity.closest<HTMLElement>(".field")!.hidden = soldOut;
  return item;
}

function buildProductItem(id: string): HTMLLIElement {
  const title = known.get(id)!.title;
  const status = h("p", { class: "message", "aria-live": "polite" });
  const quantity = h("input", { id: `qty-${id}`, type: "number", inputmode: "numeric", min: "1", value: "1" });
  const add = h("button", { type: "button", class: "button", "aria-label": `Add to cart: ${title}` }, "Add to cart");
  add.addEventListener("click", () => void run(add, status, async () => addToCart(id, quantity, status)));
  return h("li", { class: "product" },
    h("h3", {}),
    h("p", { class: "blurb" }),
    h("p", { class: "price-line" }, h("span", { class: "price" }), " ", h("span", { class: "stock" })),
    h("div", { class: "field quantity" }, h("label", { for: quantity.id }, "Quantity", hidden(` of ${title}`)), quantity),
    add,
    status);
}

function addToCart(id: string, input: HTMLInputElement, status: HTMLElement): void {
  const product = known.get(id)!;
  const wanted = Number(input.value);
  if (!Number.isInteger(wanted) || wanted < 1) {
    say(status, "Enter a whole number of units, 1 or more.", "error");
    return;
  }
  if (!cart.has(id) && cart.size >= MAX_LINES) {
    say(status, `An order holds at most ${MAX_LINES} different products.`, "error");
    return;
  }
  const total = Math.min((cart.get(id) ?? 0) + wanted, MAX_QUANTITY, Math.max(product.available, 1));
  cart.set(id, total);
  shortOf.delete(id);
  input.value = "1";
  renderCart();
  say(status, `In your cart: ${product.title} ×${total}.`, "success");
}

function renderCart(): void {
  el.cartLines.replaceChildren(...[...cart].map(([id, quantity]) => cartLine(id, quantity)));
  const empty = cart.size === 0;
  el.cartEmpty.hidden = !empty;
  el.cartTotalLine.hidden = empty;
  el.placeOrder.hidden = empty;
  el.cartTotal.value = formatMoney(cartTotal());
  el.placeOrder.textContent = hooks?.signedIn() ? "Place order" : "Log in to place your order";
}

function cartTotal(): number {
  let total = 0;
  for (const [id, quantity] of cart) total += (known.get(id)?.price ?? 0) * quantity;
  return total;
}

function cartLine(id: string, quantity: number): HTMLLIElement {
  const product = known.get(id)!;
  const input = h("input", { id: `cart-qty-${id}`, type: "number", inputmode: "numeric", min: "1",
    max: String(MAX_QUANTITY), value: String(quantity) });
  input.addEventListener("change", () => {
    const value = Number(input.value);
    if (Number.isInteger(value) && value >= 1 && value <= MAX_QUANTITY) cart.set(id, value);
    else input.value = String(cart.get(id) ?? 1);
    shortOf.delete(id);
    renderCart();
  });
  const remove = h("button", { type: "button", class: "button secondary" }, "Remove",
    hidden(` ${product.title} from the cart`));
  remove.addEventListener("click", () => {
    cart.delete(id);
    shortOf.delete(id);
    renderCart();
    el.cartHeading.focus();
  });
  const short = shortOf.get(id);
  return h("li", { class: "cart-line" },
    h("span", { class: "cart-title" }, product.title),
    h("span", { class: "cart-unit" }, `${formatMoney(product.price)} each`),
    h("div", { class: "field quantity" },
      h("label", { for: input.id }, "Quantity", hidden(` of ${product.title} in the cart`)), input),
    h("span", { class: "cart-sum" }, formatMoney(product.price * quantity)),
    remove,
    short === undefined ? null : h("p", { class: "field-error short" },
      short > 0 ? `Only ${short} left: lower the quantity.` : "Out of stock: none left."));
}

async function placeOrder(): Promise<void> {
  if (!hooks.signedIn()) {
    say(el.cartStatus, "Log in or sign up to place your order: your cart stays as it is.");
    hooks.askToSignIn();
    return;
  }
  const items = [...cart].map(([productId, quantity]) => ({ productId, quantity }));
  say(el.cartStatus, "Placing your order…");
  try {
    const answer = await idempotency.submit("order", items, (key) => api.placeOrder(items, key));
    const order = answer.body.data;
    cart.clear();
    shortOf.clear();
    renderCart();
    hooks.ordered(order);
    if (order.status === "pending") {
      say(el.cartStatus, `Pending: ${order.title} is ordered and the payment is being confirmed. Its status below updates by itself.`);
    } else if (order.status === "cancelled") {
      say(el.cartStatus, `This order of ${order.title} was placed before and has been cancelled since.`);
    } else {
      say(el.cartStatus, `Order placed: ${order.title} for ${formatMoney(order.price)}.`, "success");
    }
  } catch (thrown) {
    refused(asApiError(thrown));
  } finally {
    void reload(items.map((item) => item.productId)).catch(() => undefined);
  }
}

/**
 * After an order: the listing again (the units left changed), then the products ordered read
 * one by one, as they stand now: a replica answers the listing from a page read up to a second
 * ago, which must not show the person a unit that their own order has just taken or found gone.
 */
async function reload(ids: string[]): Promise<void> {
  await load();
  const fresh = await Promise.all(ids.map((id) => api.product(id).then((product) => [id, product] as const)));
  for (const [id, product] of fresh) {
    const shownBefore = known.get(id);
    if (product) known.set(id, product);
    else if (shownBefore) known.set(id, { ...shownBefore, active: false });
  }
  renderCatalogue();
  renderCart();
}

/** Says why the order was refused, next to the cart; throws what it cannot place. */
function refused(error: ApiError): void {
  if (error.code === "out_of_stock" && error.details) {
    const lines: string[] = [];
    for (const [id, available] of Object.entries(error.details)) {
      if (typeof available !== "number") continue;
      shortOf.set(id, available);
      const product = known.get(id);
      if (product) known.set(id, { ...product, available });
      lines.push(`${product?.title ?? "a product"}: ${available > 0 ? `only ${available} left` : "none left"}`);
    }
    renderCart();
    renderCatalogue();
    say(el.cartStatus, `Not enough in stock (${lines.join("; ")}). Nothing was ordered or charged.`, "error");
    return;
  }
  if (error.code === "insufficient_funds") {
    const order = error.details?.["order"] as api.Order | undefined;
    if (order && typeof order.id === "string") hooks.ordered(order);
    say(el.cartStatus, `Refused: not enough money for ${formatMoney(order?.price ?? cartTotal())}. Top up and try again.`, "error");
    return;
  }
  throw error;
}
