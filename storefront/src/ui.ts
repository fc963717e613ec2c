// Small DOM helpers: find elements, build them, show messages next to what they concern, and
// run a button's action so that it cannot run twice at once.
import { asApiError, type ApiError } from "./http";

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from index.html`);
  return element as T;
}

type Child = Node | string | null | undefined | false;

/** h("li", {class: "x"}, "text", child): an element with attributes and children, no innerHTML. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  for (const child of children) if (child) element.append(child);
  return element;
}

/** Text for screen readers only: what a short visible label leaves to the context (which one). */
export function hidden(text: string): HTMLSpanElement {
  return h("span", { class: "visually-hidden" }, text);
}

export type Tone = "info" | "success" | "error";

/**
 * Puts a message in its live region (aria-live in index.html), so screen readers hear it. The
 * regions stay in the page, empty and collapsed by CSS, because one unhidden together with its
 * text is often not announced.
 */
export function say(target: HTMLElement, text: string, tone: Tone = "info"): void {
  target.textContent = text;
  target.dataset["tone"] = tone;
}

/** The message for an error as a sentence, with when to try again after a 429. */
export function describe(error: ApiError): string {
  const text = sentence(error.message);
  if (error.status !== 429) return text;
  const wait = error.retryAfterSeconds;
  return `${text} ${wait ? `Try again in ${wait} s.` : "Wait a moment, then try again."}`;
}

/** "not enough money" -> "Not enough money." (the services' messages are lower case fragments). */
export function sentence(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return trimmed;
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** Shows each field named in an error's `details` next to its input; true when any was. */
export function showFieldErrors(error: ApiError, fields: Record<string, HTMLInputElement>): boolean {
  let shown = false;
  for (const [name, input] of Object.entries(fields)) {
    const problem = error.details?.[name];
    if (typeof problem === "string") {
      fieldError(input, sentence(problem));
      shown = true;
    }
  }
  return shown;
}

/** An input's own error message, in the element named `<input id>-error` (aria-describedby). */
export function fieldError(input: HTMLInputElement, text: string): void {
  const slot = byId(`${input.id}-error`);
  slot.textContent = text;
  if (text) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

export function clearFieldErrors(...inputs: HTMLInputElement[]): void {
  for (const input of inputs) fieldError(input, "");
}

// Without Retry-After (the gateway's limiter sends none) a 429 still pauses the button a little.
const DEFAULT_COOLDOWN_S = 3;

/**
 * Runs a button's action once at a time. The button is marked aria-disabled (not `disabled`, so
 * a keyboard user keeps focus on it) and clicks while it runs are ignored. An error is shown in
 * `status` unless `onError` handles it; after a 429 the button stays off for Retry-After seconds.
 */
export async function run(
  button: HTMLButtonElement,
  status: HTMLElement,
  action: () => Promise<void>,
  onError?: (error: ApiError) => boolean,
): Promise<void> {
  if (button.getAttribute("aria-disabled") === "true") return;
  setBusy(button, true);
  say(status, "");
  let cooldown = 0;
  try {
    await action();
  } catch (thrown) {
    const error = asApiError(thrown);
    if (!onError?.(error)) say(status, describe(error), "error");
    if (error.status === 429) cooldown = Math.min(error.retryAfterSeconds ?? DEFAULT_COOLDOWN_S, 60);
  } finally {
    if (cooldown > 0) window.setTimeout(() => setBusy(button, false), cooldown * 1000);
    else setBusy(button, false);
  }
}

export function setBusy(button: HTMLButtonElement, busy: boolean): void {
  if (busy) {
    button.setAttribute("aria-disabled", "true");
    button.setAttribute("aria-busy", "true");
  } else {
    button.removeAttribute("aria-disabled");
    button.removeAttribute("aria-busy");
  }
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function timeElement(iso: string): HTMLTimeElement {
  const date = new Date(iso);
  return h("time", { datetime: iso }, Number.isNaN(date.getTime()) ? iso : dateFormat.format(date));
}
