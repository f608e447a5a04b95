import { describe, expect, it } from 'vitest';
import { brakeKey, MAX_TRACKED, MemoryFailLimiter, sha256Hex, WINDOW_MS } from './fail-limiter.js';

const LIMIT = 30;
const ipOf = (i: number) => `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;

describe('MemoryFailLimiter: the rule', () => {
  const now = 1_000_000;

  it('blocks once LIMIT distinct keys missed: the 31st distinct key is over the limit', () => {
    const limiter = new MemoryFailLimiter(LIMIT);
    for (let i = 0; i < LIMIT; i++) {
      expect(limiter.blockedFor('192.0.2.1', now + i)).toBe(0);
      expect(limiter.miss('192.0.2.1', `guess-${i}`, now + i)).toBe(false);
    }
    expect(limiter.blockedFor('192.0.2.1', now + LIMIT)).toBe(WINDOW_MS - LIMIT);
    // In flight when the block began: over the limit, whether the key is new or one already counted.
    expect(limiter.miss('192.0.2.1', 'guess-31', now + LIMIT)).toBe(true);
    expect(limiter.miss('192.0.2.1', 'guess-0', now + LIMIT)).toBe(true);
    expect(limiter.blockedFor('192.0.2.2', now + LIMIT)).toBe(0);
  });

  it('a repeated key counts once, whatever the number of repeats; no key is one key', () => {
    const limiter = new MemoryFailLimiter(LIMIT);
    for (let i = 0; i < 10_000; i++) expect(limiter.miss('192.0.2.1', 'the-same-wrong-key', now)).toBe(false);
    for (let i = 0; i < 100; i++) expect(limiter.miss('192.0.2.1', null, now)).toBe(false);
    for (let i = 0; i < LIMIT - 3; i++) limiter.miss('192.0.2.1', `guess-${i}`, now);
    expect(limiter.blockedFor('192.0.2.1', now)).toBe(0);
    limiter.miss('192.0.2.1', 'the 30th distinct', now);
    expect(limiter.blockedFor('192.0.2.1', now)).toBe(WINDOW_MS);
  });

  it('the window ends 60 s after the first miss; then the caller is counted afresh', () => {
    const limiter = new MemoryFailLimiter(LIMIT);
    for (let i = 0; i < LIMIT; i++) limiter.miss('192.0.2.1', `guess-${i}`, now + i * 1000);
    expect(limiter.blockedFor('192.0.2.1', now + WINDOW_MS - 1)).toBe(1);
    expect(limiter.blockedFor('192.0.2.1', now + WINDOW_MS)).toBe(0);
    // The same keys again in a new window are new misses; 29 of them do not block.
    for (let i = 0; i < LIMIT - 1; i++) expect(limiter.miss('192.0.2.1', `guess-${i}`, now + WINDOW_MS + i)).toBe(false);
    expect(limiter.blockedFor('192.0.2.1', now + WINDOW_MS + LIMIT)).toBe(0);
  });

  it('counts an IPv6 caller by its /64; IPv4 by its address', () => {
    expect(brakeKey('203.0.113.7')).toBe('203.0.113.7');
    expect(brakeKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(brakeKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(brakeKey('2001:db8::1')).toBe('2001:db8::/64');
    expect(brakeKey('fe80::1%eth0')).toBe('fe80::/64');
    const limiter = new MemoryFailLimiter(LIMIT);
    for (let i = 0; i < LIMIT; i++) limiter.miss(`2001:db8:1:2::${(i + 1).toString(16)}`, `guess-${i}`, now);
    expect(limiter.blockedFor('2001:db8:1:2:ffff::9', now)).toBe(WINDOW_MS);
    expect(limiter.blockedFor('2001:db8:1:3::1', now)).toBe(0);
  });

  it('digests with SHA-256 (the one-shot function or, on older Node.js 20, createHash)', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('a block reported by another instance refuses the caller until it ends', () => {
    const limiter = new MemoryFailLimiter(LIMIT);
    limiter.block(brakeKey('2001:db8:9:9::1'), now + 5000);
    expect(limiter.blockedFor('2001:db8:9:9::abcd', now)).toBe(5000);
    expect(limiter.miss('2001:db8:9:9::abcd', 'k', now)).toBe(true);
    expect(limiter.blockedFor('2001:db8:9:9::abcd', now + 5000)).toBe(0);
  });
});

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
        limiter.miss(ipOf(i), `key-${i}`, now);
        if (i % 100 === 0 && performance.now() - started > budget) break;
      }
      return performance.now() - started;
    };
    const first = timeBatch(0);
    for (let i = BATCH; i < TOTAL - BATCH; i++) limiter.miss(ipOf(i), `key-${i}`, now);
    // Generous for a shared, busy machine: a full scan per miss would take seconds here.
    const budget = Math.max(10 * first, 300);
    const last = timeBatch(TOTAL - BATCH, budget);
    expect(last, `last 10k misses took ${last.toFixed(0)} ms, the first 10k ${first.toFixed(0)} ms`).toBeLessThan(budget);
    expect(limiter.tracked).toBeLessThanOrEqual(MAX_TRACKED);
  });

  it('an IP that keeps checking stays blocked while three times MAX_TRACKED other IPs miss', () => {
    const limiter = new MemoryFailLimiter(LIMIT);
    const now = Date.now();
    const guesser = '192.0.2.1';
    for (let i = 0; i < LIMIT; i++) limiter.miss(guesser, `guess-${i}`, now);
    expect(limiter.blockedFor(guesser, now)).toBe(60_000);
    for (let i = 0; i < 3 * MAX_TRACKED; i++) {
      limiter.miss(ipOf(i), `key-${i}`, now);
      if (i % 10_000 === 0) expect(limiter.blockedFor(guesser, now), `after ${i} other IPs`).toBe(60_000);
    }
    expect(limiter.blockedFor(guesser, now + 59_999)).toBe(1);
    expect(limiter.blockedFor(guesser, now + 60_000)).toBe(0);
  });

  it('with a huge CHECK_FAIL_LIMIT, a caller with 200,000 distinct keys costs each miss what the first cost', () => {
    const limiter = new MemoryFailLimiter(1_000_000_000);
    const now = Date.now();
    const timeBatch = (from: number, budget = Infinity): number => {
      const started = performance.now();
      for (let i = from; i < from + 10_000; i++) {
        limiter.miss('192.0.2.1', `guess-${i}`, now);
        if (i % 100 === 0 && performance.now() - started > budget) break;
      }
      return performance.now() - started;
    };
    const first = timeBatch(0);
    for (let i = 10_000; i < 190_000; i++) limiter.miss('192.0.2.1', `guess-${i}`, now);
    const budget = Math.max(10 * first, 300);
    expect(timeBatch(190_000, budget)).toBeLessThan(budget);
    expect(limiter.blockedFor('192.0.2.1', now)).toBe(0);
  });
});
