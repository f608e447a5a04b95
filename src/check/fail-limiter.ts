/** Per-IP brake on key guessing (SPEC section 5): blocked once an IP has `limit` misses in a window. */
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
const MAX_TRACKED = 1_000_000;

/**
 * The window starts at an IP's first miss; once it holds `limit` misses, every check from that IP
 * is refused until the window ends. `blockedFor` answers the milliseconds left (0: not blocked).
 */
export class MemoryFailLimiter implements FailLimiter {
  private readonly windows = new Map<string, { count: number; start: number }>();
  private readonly blocks = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly limit: number) {
    this.sweeper = setInterval(() => this.sweep(Date.now()), WINDOW_MS);
    this.sweeper.unref();
  }

  blockedFor(ip: string, now: number): number {
    const until = this.blocks.get(ip);
    if (until === undefined) return 0;
    if (until > now) return until - now;
    this.blocks.delete(ip);
    return 0;
  }

  miss(ip: string, now: number): boolean {
    let w = this.windows.get(ip);
    if (!w || now - w.start >= WINDOW_MS) {
      if (this.windows.size >= MAX_TRACKED) this.sweep(now);
      w = { count: 0, start: now };
      this.windows.set(ip, w);
    }
    w.count++;
    if (w.count >= this.limit) this.block(ip, w.start + WINDOW_MS);
    return w.count > this.limit;
  }

  /** Marks an IP blocked until `until` (also used when another instance reports a block). */
  block(ip: string, until: number): void {
    if ((this.blocks.get(ip) ?? 0) < until) this.blocks.set(ip, until);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }

  private sweep(now: number): void {
    for (const [ip, w] of this.windows) if (now - w.start >= WINDOW_MS) this.windows.delete(ip);
    for (const [ip, until] of this.blocks) if (until <= now) this.blocks.delete(ip);
  }
}

/** CHECK_FAIL_LIMIT=0 turns the brake off. */
export const noFailLimiter: FailLimiter = {
  blockedFor: () => 0,
  miss: () => false,
  close: async () => {},
};
