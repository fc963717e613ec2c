// Idempotency-Keys per submission. A submission is one person's intent ("top up 100.00", "buy
// the blue mug"): it gets a fresh key, and keeps that key while its outcome is unknown or it
// may simply be sent again (network error, 429, 5xx), so pressing the button again after such
// a failure repeats the same request and the server applies it at most once. A definite answer
// (success, or a 4xx) ends the submission: the next press is a new one with a new key.
import { ApiError } from "./http";
import { newKey } from "./random";

interface Open {
  key: string;
  body: string;
}

const open = new Map<string, Open>();

/**
 * Runs `send` with the key of the submission `action` (e.g. "deposit") for `body`: the open
 * one's when the body is unchanged, else a new key.
 */
export async function submit<T>(action: string, body: unknown, send: (key: string) => Promise<T>): Promise<T> {
  const fingerprint = JSON.stringify(body);
  let submission = open.get(action);
  if (!submission || submission.body !== fingerprint) {
    submission = { key: newKey(), body: fingerprint };
    open.set(action, submission);
  }
  try {
    const result = await send(submission.key);
    open.delete(action);
    return result;
  } catch (error) {
    if (!(error instanceof ApiError) || !error.retryable) open.delete(action);
    throw error;
  }
}

/** Forgets every open submission (at logout: keys belong to one person's session). */
export function forgetAll(): void {
  open.clear();
}
