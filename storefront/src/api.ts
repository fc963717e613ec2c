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

export interface Order {
  id: string;
  title: string;
  price: number; // minor units
  status: OrderStatus;
  createdAt: string;
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

/**
 * Places an order. 201 created, 202 pending (payment outcome not known yet), 200 a repeat of an
 * order cancelled since; not enough money is a 400 insufficient_funds error, thrown.
 */
export async function placeOrder(title: string, price: number, idempotencyKey: string): Promise<Answer<{ data: Order }>> {
  return authed<{ data: Order }>("POST", "/api/v1/orders", { body: { title, price }, idempotencyKey });
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
