import { LRUCache } from 'lru-cache';

/** Per-IP brake on key guessing (docs/threat-model.md): blocked once an IP has `limit` misses in a window. */
export interface FailLimiter {
  /** Answered from local state only, so a check never waits on it. */
  blockedFor(ip: string, now: number): number;
  /**
   * Counts one NOT FOUND answer for the IP. True when this miss is beyond the limit (requests that
   * were already in flight when the IP got blocked): it must be answered 429, not NOT FOUND.
   */
  miss(ip: string, now: number): boolean | Promise<boolean>;
  close(): Promise<void>;
}

export const WINDOW_MS = 60_000;
/**
 * Callers tracked at once; past it the one that missed least recently is forgotten. An attacker
 * with more addresses than this already gets 30 × 100,000 guesses a minute, more than a server
 * answers, so forgetting costs nothing; a blocked IP that keeps checking stays blocked.
 */
export const MAX_TRACKED = 100_000;

interface Caller {
  /** The first miss of the window. */
  start: number;
  count: number;
  /** Blocked until then (0: not blocked). */
  until: number;
}

/**
 * The window starts at an IP's first miss; once it holds `limit` misses, every check from that IP
 * is refused until the window ends. `blockedFor` answers the milliseconds left (0: not blocked).
 * Memory is bounded by an LRU, and no request does more than a few lookups in it.
 */
export class MemoryFailLimiter implements FailLimiter {
  private readonly callers = new LRUCache<string, Caller>({ max: MAX_TRACKED });

  constructor(private readonly limit: number) {}

  /** How many callers are tracked now (at most MAX_TRACKED). */
  get tracked(): number {
    return this.callers.size;
  }

  blockedFor(ip: string, now: number): number {
    const caller = this.callers.peek(ip);
    if (caller === undefined || caller.until <= now) return 0;
    // Still blocked: this caller is not the one to forget next.
    this.callers.get(ip);
    return caller.until - now;
  }

  miss(ip: string, now: number): boolean {
    let caller = this.callers.get(ip);
    if (caller === undefined || now - caller.start >= WINDOW_MS) {
      this.forgetOldestIfOver(now);
      caller = { start: now, count: 0, until: caller && caller.until > now ? caller.until : 0 };
      this.callers.set(ip, caller);
    }
    caller.count++;
    if (caller.count >= this.limit) caller.until = Math.max(caller.until, caller.start + WINDOW_MS);
    return caller.count > this.limit;
  }

  /** Marks an IP blocked until `until` (also used when another instance reports a block). */
  block(ip: string, until: number): void {
    const caller = this.callers.get(ip);
    if (caller === undefined) this.callers.set(ip, { start: until - WINDOW_MS, count: 0, until });
    else if (caller.until < until) caller.until = until;
  }

  async close(): Promise<void> {}

  /** Forgets the least recently seen caller if its window and block are over: stale entries drain as new ones come. */
  private forgetOldestIfOver(now: number): void {
    const oldest = this.callers.rkeys().next();
    if (oldest.done) return;
    const caller = this.callers.peek(oldest.value);
    if (caller && now - caller.start >= WINDOW_MS && caller.until <= now) this.callers.delete(oldest.value);
  }
}

/** CHECK_FAIL_LIMIT=0 turns the brake off. */
export const noFailLimiter: FailLimiter = {
  blockedFor: () => 0,
  miss: () => false,
  close: async () => {},
};
