import { describe, expect, it } from 'vitest';
import { MAX_TRACKED, MemoryFailLimiter } from './fail-limiter.js';

const LIMIT = 30;
const ipOf = (i: number) => `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;

describe('MemoryFailLimiter: memory and cost', () => {
  it('a miss costs as little after a million distinct IPs as after the first ten thousand, and memory stays bounded', () => {
    const limiter = new MemoryFailLimiter(LIMIT);
    const now = Date.now();
    const BATCH = 10_000;
    const TOTAL = 1_000_000 + BATCH;
    /** Milliseconds for one batch of misses from new IPs; stops early once past `budget`. */
    const timeBatch = (from: number, budget = Infinity): number => {
      const started = performance.now();
      for (let i = from; i < from + BATCH; i++) {
        limiter.miss(ipOf(i), now);
        if (i % 100 === 0 && performance.now() - started > budget) break;
      }
      return performance.now() - started;
    };
    const first = timeBatch(0);
    for (let i = BATCH; i < TOTAL - BATCH; i++) limiter.miss(ipOf(i), now);
    // Generous for a shared, busy machine: a full scan per miss would take seconds here.
    const budget = Math.max(10 * first, 300);
    const last = timeBatch(TOTAL - BATCH, budget);
    expect(last, `last 10k misses took ${last.toFixed(0)} ms, the first 10k ${first.toFixed(0)} ms`).toBeLessThan(budget);
    expect(limiter.tracked).toBeLessThanOrEqual(MAX_TRACKED);
  });

  it('an IP that keeps checking stays blocked while a million other IPs miss', () => {
    const limiter = new MemoryFailLimiter(LIMIT);
    const now = Date.now();
    const guesser = '192.0.2.1';
    for (let i = 0; i < LIMIT; i++) limiter.miss(guesser, now);
    expect(limiter.blockedFor(guesser, now)).toBe(60_000);
    for (let i = 0; i < 1_000_000; i++) {
      limiter.miss(ipOf(i), now);
      if (i % 10_000 === 0) expect(limiter.blockedFor(guesser, now), `after ${i} other IPs`).toBe(60_000);
    }
    expect(limiter.blockedFor(guesser, now + 59_999)).toBe(1);
    expect(limiter.blockedFor(guesser, now + 60_000)).toBe(0);
  });
});
