import type { SessionRepository } from '../../storage/session-repository.js';

export interface ThrottleLimits {
  /** Failures allowed per account name within the window. */
  perAccount: number;
  /** Failures allowed per client IP within the window. */
  perIp: number;
  windowMs: number;
}

export const DEFAULT_LIMITS: ThrottleLimits = { perAccount: 5, perIp: 20, windowMs: 15 * 60_000 };

export type ThrottleVerdict = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/**
 * Slows password and second-factor guessing: once an account name or an IP has had too many
 * failures within the window, further attempts are refused (even right ones) until the oldest
 * failure leaves the window. Counts live in the database, so every instance shares them.
 */
export class SignInThrottle {
  private lastPrune = 0;

  constructor(
    private readonly repo: SessionRepository,
    private readonly limits: ThrottleLimits = DEFAULT_LIMITS,
  ) {}

  async check(account: string, ip: string, now = Date.now()): Promise<ThrottleVerdict> {
    const accountScope = scopeOf(account);
    const ipScope = `ip:${ip}`;
    const counts = await this.repo.countFailures([accountScope, ipScope], now - this.limits.windowMs);
    let until = 0;
    const a = counts.get(accountScope);
    if (a && a.count >= this.limits.perAccount) until = Math.max(until, a.oldest + this.limits.windowMs);
    const i = counts.get(ipScope);
    if (i && i.count >= this.limits.perIp) until = Math.max(until, i.oldest + this.limits.windowMs);
    return until > now ? { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((until - now) / 1000)) } : { allowed: true };
  }

  async failed(account: string, ip: string, now = Date.now()): Promise<void> {
    await this.repo.addFailures([scopeOf(account), `ip:${ip}`], now);
    if (now - this.lastPrune > 60_000) {
      this.lastPrune = now;
      await this.repo.pruneFailures(now - this.limits.windowMs);
    }
  }

  /** A successful sign-in forgives the account's failures (the IP's stay counted). */
  async succeeded(account: string): Promise<void> {
    await this.repo.clearFailures(scopeOf(account));
  }
}

const scopeOf = (account: string) => `login:${account.trim().toLowerCase().slice(0, 200)}`;
