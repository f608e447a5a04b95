import crypto from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { LRUCache } from 'lru-cache';

/**
 * The brake on key guessing (docs/threat-model.md): once one caller has had `limit` NOT FOUND
 * answers for distinct keys within WINDOW_MS of its first miss, every check from it is refused
 * until that window ends. A caller is an IPv4 address or an IPv6 /64 (see brakeKey).
 */
export interface FailLimiter {
  /** Milliseconds the IP's caller is still blocked for (0: not blocked); from local state only, so a check never waits on it. */
  blockedFor(ip: string, now: number): number;
  /**
   * Counts one NOT FOUND answer for the IP and the key it sent (null: none); a key already
   * counted in the window counts once. True when the caller was already blocked (a request in
   * flight when the block began): it must be answered 429, not NOT FOUND.
   */
  miss(ip: string, key: string | null, now: number): boolean | Promise<boolean>;
  close(): Promise<void>;
}

export const WINDOW_MS = 60_000;
/**
 * Callers tracked at once; past it the one seen least recently is forgotten. An attacker with
 * more addresses than this already gets 30 × 100,000 guesses a minute, more than a server
 * answers, so forgetting costs nothing; a blocked caller that keeps checking stays blocked.
 */
export const MAX_TRACKED = 100_000;
/** Callers plus key digests held at once: bounds memory whatever CHECK_FAIL_LIMIT is (30 digests for each of MAX_TRACKED at the default). */
const MAX_SLOTS = MAX_TRACKED * 31;
/** A caller's digests stay an array up to this many (a third of a Set's memory), then become a Set so no miss scans a long list. */
const SMALL = 64;
/** A higher CHECK_FAIL_LIMIT counts as this, so one caller's digests always fit in MAX_SLOTS (in Redis too). */
export const MAX_LIMIT = 1_000_000;

/** SHA-256 as hex: the one-shot crypto.hash (a quarter of createHash's cost) where Node has it (20.12 and later). */
export const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function' ? (text) => crypto.hash('sha256', text) : (text) => crypto.createHash('sha256').update(text).digest('hex');

/**
 * What the brake counts a caller by: the IPv4 address, or the /64 network of an IPv6 address
 * (one customer's usual share, e.g. `2001:db8:1:2::/64`), so a caller cannot escape the brake
 * by moving through the 18 quintillion addresses of its own network.
 */
export function brakeKey(ip: string): string {
  if (!ip.includes(':')) return ip;
  try {
    const p = ipaddr.IPv6.parse(ip).parts;
    return `${new ipaddr.IPv6([p[0]!, p[1]!, p[2]!, p[3]!, 0, 0, 0, 0]).toString()}/64`;
  } catch {
    return ip;
  }
}

interface Caller {
  /** The first miss of the window. */
  start: number;
  /** Blocked until then (0: not blocked). */
  until: number;
  /** Digests of the keys missed with in the window, never the keys. */
  keys: number[] | Set<number>;
}

const countOf = (keys: Caller['keys']): number => (Array.isArray(keys) ? keys.length : keys.size);

/** The brake in this process's memory: an LRU of callers, a lookup or two per check, never a scan. */
export class MemoryFailLimiter implements FailLimiter {
  private readonly callers = new LRUCache<string, Caller>({
    max: MAX_TRACKED,
    maxSize: MAX_SLOTS,
    sizeCalculation: (caller) => 1 + countOf(caller.keys),
  });
  /** Per process and secret, so no one can make up distinct keys that count as one. */
  private readonly salt = crypto.randomBytes(16).toString('hex');
  private readonly limit: number;

  constructor(limit: number) {
    this.limit = Math.min(limit, MAX_LIMIT);
  }

  /** How many callers are tracked now (at most MAX_TRACKED). */
  get tracked(): number {
    return this.callers.size;
  }

  blockedFor(ip: string, now: number): number {
    const id = brakeKey(ip);
    const caller = this.callers.peek(id);
    if (caller === undefined || caller.until <= now) return 0;
    // Still blocked and still checking: not the caller to forget next.
    this.callers.get(id);
    return caller.until - now;
  }

  miss(ip: string, key: string | null, now: number): boolean {
    const id = brakeKey(ip);
    const known = this.callers.get(id);
    if (known !== undefined && known.until > now) return true;
    let caller: Caller;
    if (known === undefined || now - known.start >= WINDOW_MS) {
      this.forgetOldestIfOver(now);
      caller = { start: now, until: 0, keys: [] };
    } else {
      // A new object for the same caller, so the LRU counts its new size.
      caller = { ...known };
    }
    if (!this.add(caller, this.digest(key))) return false;
    if (countOf(caller.keys) >= this.limit) caller.until = caller.start + WINDOW_MS;
    this.callers.set(id, caller);
    return false;
  }

  /** Marks a caller (a brakeKey) blocked until `until`: another instance saw it reach the limit. */
  block(id: string, until: number): void {
    const caller = this.callers.get(id);
    if (caller === undefined) this.callers.set(id, { start: until - WINDOW_MS, until, keys: [] });
    else if (caller.until < until) caller.until = until;
  }

  async close(): Promise<void> {}

  /** 31 bits of a salted SHA-256 of the key: a small integer, the cheapest thing to keep. */
  private digest(key: string | null): number {
    return parseInt(sha256Hex(this.salt + (key ?? '')).slice(0, 8), 16) >>> 1;
  }

  /** Adds a digest to the caller's keys; false if it was there already. */
  private add(caller: Caller, digest: number): boolean {
    const keys = caller.keys;
    if (!Array.isArray(keys)) {
      if (keys.has(digest)) return false;
      keys.add(digest);
      return true;
    }
    if (keys.includes(digest)) return false;
    if (keys.length < SMALL) keys.push(digest);
    else caller.keys = new Set(keys).add(digest);
    return true;
  }

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
