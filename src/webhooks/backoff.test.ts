import { describe, expect, it } from 'vitest';
import { MAX_DELAY_MS, nextAttemptAt, RETRY_WINDOW_MS } from './backoff.js';

describe('webhook retry backoff', () => {
  const mid = () => 0.5; // no jitter
  it('doubles from the base after each failed attempt', () => {
    expect([1, 2, 3, 4].map((n) => nextAttemptAt(n, 0, RETRY_WINDOW_MS, 10_000, mid))).toEqual([10_000, 20_000, 40_000, 80_000]);
  });

  it('waits at most an hour between attempts', () => {
    expect(nextAttemptAt(20, 0, RETRY_WINDOW_MS, 10_000, mid)).toBe(MAX_DELAY_MS);
    expect(nextAttemptAt(1000, 0, RETRY_WINDOW_MS, 10_000, mid)).toBe(MAX_DELAY_MS);
  });

  it('jitters by at most ±10 %', () => {
    expect(nextAttemptAt(1, 0, RETRY_WINDOW_MS, 10_000, () => 0)).toBe(9_000);
    expect(nextAttemptAt(1, 0, RETRY_WINDOW_MS, 10_000, () => 1)).toBe(11_000);
  });

  it('gives up when the next attempt would fall after the retry window', () => {
    expect(nextAttemptAt(3, 1000, 1000 + 39_999, 10_000, mid)).toBeNull();
    expect(nextAttemptAt(3, 1000, 1000 + 40_000, 10_000, mid)).toBe(41_000);
  });

  it('keeps retrying for 24 hours with the default base: about 30 attempts', () => {
    let attempts = 1;
    let now = 0;
    for (;;) {
      const next = nextAttemptAt(attempts, now, RETRY_WINDOW_MS, 10_000, mid);
      if (next === null) break;
      now = next;
      attempts++;
    }
    expect(now).toBeGreaterThan(RETRY_WINDOW_MS - MAX_DELAY_MS);
    expect(attempts).toBeGreaterThan(25);
    expect(attempts).toBeLessThan(40);
  });
});
