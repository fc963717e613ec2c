// The admin section, shown to a user whose token carries the admin role (an operator grants
// it: `make admin LOGIN=...`): add a product, change a product's price, take it off sale or put
// it back, and restock it. The API checks the role on every call; hiding the section is only
// for the page's sake.
import * as api from "./api";
import { asApiError } from "./http";
import * as idempotency from "./idempotency";
import { AMOUNT_HINT, formatMoney, parseMoney } from "./money";
import { byId, clearFieldErrors, describe, fieldError, h, hidden, run, say, showFieldErrors } from "./ui";

const el = {
  section: byId("admin"),
  form: byId<HTMLFormElement>("new-product-form"),
  title: byId<HTMLInputElement>("new-product-title"),
  description: byId<HTMLInputElement>("new-product-description"),
  price: byId<HTMLInputElement>("new-product-price"),
  stock: byId<HTMLInputElement>("new-product-stock"),
  add: byId<HTMLButtonElement>("new-product-button"),
  addStatus: byId("new-product-status"),
  status: byId("admin-status"),
  list: byId<HTMLUListElement>("admin-products"),
  more: byId<HTMLButtonElement>("admin-more"),
};

const MAX_STOCK = 1_000_000;
let changed: () => void = () => undefined;
let products: api.Product[] = [];
let cursor: string | null = null;

/** Wires the section; `catalogueChanged` refreshes the shop's catalogue after a change. */
export function start(catalogueChanged: () => void): void {
  changed = catalogueChanged;
  el.form.addEventListener("submit", (event) => {
    event.preventDefault();
    void run(el.add, el.addStatus, addProduct, (error) =>
      showFieldErrors(error, { title: el.title, description: el.description, price: el.price, stock: el.stock }));
  });
  el.more.addEventListener("click", () => void run(el.more, el.status, () => load(cursor ?? undefined)));
}

/** Shows the section (and loads every product) for an admin; hides it for anyone else. */
export function show(admin: boolean): void {
  el.section.hidden = !admin;
  if (!admin) {
    products = [];
    el.list.replaceChildren();
    return;
  }
  void load().catch(() => undefined);
}

async function load(after?: string): Promise<void> {
  try {
    const page = await api.products(after, true);
    products = after ? [...products, ...page.data] : page.data;
    cursor = page.nextCursor ?? null;
    say(el.status, "");
    render();
  } catch (thrown) {
    const error = asApiError(thrown);
    say(el.status, `Could not load the products: ${describe(error)}`, "error");
    throw error;
  }
}

function render(): void {
  el.list.replaceChildren(...products.map(item));
  el.more.hidden = !cursor;
}

function replace(product: api.Product): void {
  products = products.map((known) => (known.id === product.id ? product : known));
  render();
  changed();
}

function item(product: api.Product): HTMLLIElement {
  const status = h("p", { class: "message", "aria-live": "polite" });
  const price = h("input", { id: `admin-price-${product.id}`, inputmode: "decimal", autocomplete: "off",
    value: formatMoney(product.price).replace(/,/g, "") });
  const savePrice = h("button", { type: "button", class: "button secondary" }, "Save price",
    hidden(` of ${product.title}`));
  savePrice.addEventListener("click", () => void run(savePrice, status, async () => {
    const minor = parseMoney(price.value);
    if (minor === null) {
      say(status, `Enter ${AMOUNT_HINT}.`, "error");
      return;
    }
    replace(await api.updateProduct(product.id, { price: minor }));
    focusItem(product.id, `Price of ${product.title} is now ${formatMoney(minor)}.`);
  }));
  const toggleText = product.active ? "Take off sale" : "Put on sale";
  const toggle = h("button", { type: "button", class: "button secondary", "aria-label": `${toggleText}: ${product.title}` },
    toggleText);
  toggle.addEventListener("click", () => void run(toggle, status, async () => {
    const updated = await api.updateProduct(product.id, { active: !product.active });
    replace(updated);
    focusItem(product.id, `${product.title} is ${updated.active ? "on sale again" : "off sale"}.`);
  }));
  const units = h("input", { id: `admin-restock-${product.id}`, type: "number", inputmode: "numeric", min: "1",
    max: String(MAX_STOCK), value: "10" });
  const restock = h("button", { type: "button", class: "button secondary" }, "Restock",
    hidden(` ${product.title}`));
  restock.addEventListener("click", () => void run(restock, status, async () => {
    const quantity = Number(units.value);
    if (!Number.isInteger(quantity) || quantity < 1 || quantity > MAX_STOCK) {
      say(status, `Enter a whole number of units from 1 to ${MAX_STOCK}.`, "error");
      return;
    }
    // One key per submission: a double click, or a retry after a lost answer, adds them once.
    const restocked = await idempotency.submit(`restock:${product.id}`, { quantity },
      (key) => api.restock(product.id, quantity, key));
    replace(restocked);
    focusItem(product.id, `Added ${quantity}: ${restocked.available} of ${product.title} left.`);
  }));
  return h("li", { class: "admin-product", "data-id": product.id },
    h("h4", {}, product.title),
    h("p", {}, `${formatMoney(product.price)} · ${product.available} left · ${product.active ? "on sale" : "off sale"}`),
    h("div", { class: "field" }, h("label", { for: price.id }, "Price", hidden(` of ${product.title}`)),
      h("div", { class: "inline" }, price, savePrice)),
    h("div", { class: "field" }, h("label", { for: units.id }, "Units to add", hidden(` to ${product.title}`)),
      h("div", { class: "inline" }, units, restock)),
    toggle,
    status);
}

/** After a re-render, says how the change went in the product's fresh message region. */
function focusItem(id: string, text: string): void {
  const status = el.list.querySelector<HTMLElement>(`li[data-id="${id}"] .message`);
  if (status) say(status, text, "success");
}

async function addProduct(): Promise<void> {
  clearFieldErrors(el.title, el.description, el.price, el.stock);
  const title = el.title.value.trim();
  const price = parseMoney(el.price.value);
  const stock = Number(el.stock.value);
  if (!title) fieldError(el.title, "Enter the product's title.");
  if (price === null) fieldError(el.price, `Enter ${AMOUNT_HINT}.`);
  if (!Number.isInteger(stock) || stock < 1 || stock > MAX_STOCK) {
    fieldError(el.stock, `Enter a whole number of units from 1 to ${MAX_STOCK}.`);
  }
  const invalid = el.form.querySelector<HTMLInputElement>('[aria-invalid="true"]');
  if (invalid || price === null) {
    invalid?.focus();
    return;
  }
  const product = await api.addProduct({ title, description: el.description.value.trim(), price, stock });
  el.form.reset();
  products = [product, ...products];
  render();
  changed();
  say(el.addStatus, `Added ${product.title} at ${formatMoney(product.price)}, ${product.available} in stock.`, "success");
}
