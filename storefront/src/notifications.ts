// Notifications arrive by polling: the API has no push and no read flag (CONTRACT.md,
// Notifications), so what the person has seen is kept in localStorage, per user.
//
// Polling backs off from 1 s, doubling up to 15 s; the person's own actions (an order, a
// cancel, a top-up) reset it to 1 s, since a notification is then due. It pauses while the tab
// is hidden and checks at once when it is shown again. A 429 waits at least its Retry-After.
import * as api from "./api";
import { ApiError, asApiError } from "./http";

const FIRST_MS = 1_000;
const MAX_MS = 15_000;
const SEEN_LIMIT = 500;

export interface Snapshot {
  items: api.Notification[];
  unread: Set<string>;
  error: ApiError | null;
  /** True when this poll brought notifications the page had not had before. */
  arrived: boolean;
}

export class NotificationFeed {
  private delay = FIRST_MS;
  private timer: number | undefined;
  private running = false;
  private polling = false;
  private items: api.Notification[] = [];
  private seen: Set<string>;
  private readonly seenKey: string;

  constructor(
    userId: string,
    private readonly onUpdate: (snapshot: Snapshot) => void,
  ) {
    this.seenKey = `shop.seenNotifications.${userId}`;
    this.seen = new Set(readJsonArray(this.seenKey));
    document.addEventListener("visibilitychange", this.onVisibility);
  }

  start(): void {
    this.running = true;
    void this.poll();
  }

  stop(): void {
    this.running = false;
    window.clearTimeout(this.timer);
    document.removeEventListener("visibilitychange", this.onVisibility);
  }

  /** Something happened that will cause a notification: look again soon, and often. */
  activity(): void {
    this.delay = FIRST_MS;
    this.schedule(FIRST_MS);
  }

  /** Checks now (the "Check now" button), and resets the back-off. */
  checkNow(): void {
    this.delay = FIRST_MS;
    void this.poll();
  }

  markAllRead(): void {
    for (const item of this.items) this.seen.add(item.id);
    // Keep the newest ids only: the list endpoint's first page is all that is ever shown.
    const kept = [...this.seen].slice(-SEEN_LIMIT);
    this.seen = new Set(kept);
    try {
      localStorage.setItem(this.seenKey, JSON.stringify(kept));
    } catch {
      /* read state then lasts as long as the tab */
    }
    this.publish(null, false);
  }

  private onVisibility = (): void => {
    if (document.visibilityState === "visible") this.checkNow();
    else window.clearTimeout(this.timer);
  };

  private schedule(ms: number): void {
    window.clearTimeout(this.timer);
    if (!this.running || document.visibilityState === "hidden") return;
    this.timer = window.setTimeout(() => void this.poll(), ms);
  }

  private async poll(): Promise<void> {
    if (!this.running || this.polling) return;
    this.polling = true;
    window.clearTimeout(this.timer);
    let next: number;
    try {
      const page = await api.notifications();
      const known = new Set(this.items.map((item) => item.id));
      const arrived = page.data.some((item) => !known.has(item.id));
      this.items = page.data;
      this.publish(null, arrived);
      next = this.delay;
    } catch (thrown) {
      const error = asApiError(thrown);
      if (error.status === 401) return; // the session is over; the page stops the feed
      this.publish(error, false);
      next = Math.max(this.delay, (error.retryAfterSeconds ?? 0) * 1000);
    } finally {
      this.polling = false;
    }
    this.delay = Math.min(this.delay * 2, MAX_MS);
    this.schedule(next);
  }

  private publish(error: ApiError | null, arrived: boolean): void {
    if (!this.running) return;
    const unread = new Set(this.items.filter((item) => !this.seen.has(item.id)).map((item) => item.id));
    this.onUpdate({ items: this.items, unread, error, arrived });
  }
}

function readJsonArray(key: string): string[] {
  try {
    const parsed: unknown = JSON.parse(localStorage.getItem(key) ?? "[]");
    return Array.isArray(parsed) ? parsed.filter((x): x is string => typeof x === "string") : [];
  } catch {
    return [];
  }
}
