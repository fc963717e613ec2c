// The shop's endpoints as the page uses them (CONTRACT.md). Authenticated calls get the access
// token; a 401 refreshes it once and repeats the call with the same Idempotency-Key, so the
// repeat is safe even for commands that move money.
import { ApiError, send, type Answer, type SendOptions } from "./http";
import * as session from "./session";

export interface Account {
  id: string;
  userId: string;
  balance: number; // minor units
}

export type OrderStatus = "pending" | "created" | "rejected" | "cancelled";

export interface OrderLine {
  productId: string;
  title: string;
  unitPrice: number; // minor units, when the order was placed
  quantity: number;
}

export interface Order {
  id: string;
  items: OrderLine[];
  title: string; // a summary of the lines
  price: number; // minor units: the sum of the lines
  status: OrderStatus;
  createdAt: string;
}

export interface Product {
  id: string;
  title: string;
  description: string;
  price: number; // minor units
  available: number; // units that can be ordered now
  active: boolean;
}

export interface Notification {
  id: string;
  orderId: string;
  type: "order_created" | "order_not_created" | "order_cancelled";
  text: string;
  createdAt: string;
}

export interface Profile {
  id: string;
  login: string;
  email?: string | null;
  firstName?: string | null;
  lastName?: string | null;
  roles: string[];
}

export interface Page<T> {
  data: T[];
  nextCursor?: string | null;
}

async function authed<T>(method: string, path: string, options: Omit<SendOptions, "token"> = {}): Promise<Answer<T>> {
  const token = await session.accessTokenNow();
  try {
    return await send<T>(method, path, { ...options, token });
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
    // Expired or revoked access token: refresh (which logs out if that fails too) and repeat once.
    const fresh = await session.refresh();
    return send<T>(method, path, { ...options, token: fresh });
  }
}

export interface Registration {
  login: string;
  password: string;
  email?: string;
}

export async function register(registration: Registration): Promise<{ id: string; login: string }> {
  const { body } = await send<{ data: { id: string; login: string } }>("POST", "/api/v1/users/register", {
    body: registration,
  });
  return body.data;
}

export async function me(): Promise<Profile> {
  return (await authed<{ data: Profile }>("GET", "/api/v1/users/me")).body.data;
}

export async function myAccount(): Promise<Account> {
  return (await authed<{ data: Account }>("GET", "/api/v1/billing/account/my")).body.data;
}

export async function deposit(amount: number, idempotencyKey: string): Promise<Account> {
  const { body } = await authed<{ data: Account }>("POST", "/api/v1/billing/account/deposit", {
    body: { amount },
    idempotencyKey,
  });
  return body.data;
}

/** The catalogue, a page at a time (anyone; an admin may ask for the inactive products too). */
export async function products(cursor?: string, includeInactive = false): Promise<Page<Product>> {
  const query = new URLSearchParams({ limit: "50" });
  if (cursor) query.set("cursor", cursor);
  if (includeInactive) {
    query.set("includeInactive", "true");
    return (await authed<Page<Product>>("GET", `/api/v1/products?${query}`)).body;
  }
  return (await send<Page<Product>>("GET", `/api/v1/products?${query}`)).body;
}

/** One product as it stands now (anyone; never kept back like the listing), or null when off sale. */
export async function product(id: string): Promise<Product | null> {
  try {
    return (await send<{ data: Product }>("GET", `/api/v1/products/${encodeURIComponent(id)}`)).body.data;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

export interface Line {
  productId: string;
  quantity: number;
}

/**
 * Places an order of catalogue products; the shop prices it. 201 created, 202 pending (payment
 * outcome not known yet), 200 a repeat of an order cancelled since. Thrown: 400
 * insufficient_funds (details.order is the rejected order), 409 out_of_stock (details maps
 * each product short of units to how many are left).
 */
export async function placeOrder(items: Line[], idempotencyKey: string): Promise<Answer<{ data: Order }>> {
  return authed<{ data: Order }>("POST", "/api/v1/orders", { body: { items }, idempotencyKey });
}

export interface NewProduct {
  title: string;
  description: string;
  price: number;
  stock: number;
}

/** Admins: adds a product to the catalogue. */
export async function addProduct(product: NewProduct): Promise<Product> {
  return (await authed<{ data: Product }>("POST", "/api/v1/products", { body: product })).body.data;
}

/** Admins: changes a product's price or whether it is on sale. */
export async function updateProduct(id: string, changes: { price?: number; active?: boolean }): Promise<Product> {
  const path = `/api/v1/products/${encodeURIComponent(id)}`;
  return (await authed<{ data: Product }>("PATCH", path, { body: changes })).body.data;
}

/** Admins: adds units to a product (at most once per Idempotency-Key). */
export async function restock(id: string, quantity: number, idempotencyKey: string): Promise<Product> {
  const path = `/api/v1/products/${encodeURIComponent(id)}/restock`;
  return (await authed<{ data: Product }>("POST", path, { body: { quantity }, idempotencyKey })).body.data;
}

export async function orders(cursor?: string): Promise<Page<Order>> {
  const query = new URLSearchParams({ limit: "20" });
  if (cursor) query.set("cursor", cursor);
  return (await authed<Page<Order>>("GET", `/api/v1/orders?${query}`)).body;
}

/** 200 cancelled and refunded; 202 cancelled with the refund settled later. */
export async function cancelOrder(id: string, idempotencyKey: string): Promise<Answer<{ data: Order }>> {
  return authed<{ data: Order }>("POST", `/api/v1/orders/${encodeURIComponent(id)}/cancel`, { idempotencyKey });
}

export async function notifications(): Promise<Page<Notification>> {
  return (await authed<Page<Notification>>("GET", "/api/v1/notifications?limit=50")).body;
}
