/** How long retries go on after an event is queued (or after a resend). */
export const RETRY_WINDOW_MS = 24 * 3600_000;
/** The longest wait between two attempts. */
export const MAX_DELAY_MS = 3600_000;

/**
 * When to try again after the `attempts`-th failed attempt: `baseMs · 2^(attempts-1)`, capped at
 * an hour, with ±10 % jitter so many failing deliveries do not retry in lockstep. Null when that
 * falls after `retryUntil`: the delivery has failed for good.
 */
export function nextAttemptAt(attempts: number, now: number, retryUntil: number, baseMs: number, random: () => number = Math.random): number | null {
  const exponent = Math.min(Math.max(attempts - 1, 0), 30);
  const delay = Math.min(baseMs * 2 ** exponent, MAX_DELAY_MS);
  const next = now + Math.round(delay * (0.9 + 0.2 * random()));
  return next > retryUntil ? null : next;
}
