import type { ScopeCount, SessionRepository } from '../../storage/session-repository.js';

export interface ThrottleLimits {
  /** Attempts allowed per account name within the window (and per user for second-factor codes). */
  perAccount: number;
  /** Attempts allowed per client IP within the window (all kinds together). */
  perIp: number;
  /** New accounts allowed per client IP within the window. */
  signUpsPerIp: number;
  windowMs: number;
}

export const DEFAULT_LIMITS: ThrottleLimits = { perAccount: 5, perIp: 20, signUpsPerIp: 5, windowMs: 15 * 60_000 };

export type Reservation = { allowed: true; attempt: Attempt } | { allowed: false; retryAfterSeconds: number };

interface Counted {
  scope: string;
  limit: number;
}

/**
 * Slows password and second-factor guessing, and bulk sign-ups. Each attempt is reserved before
 * anything is tested: in one transaction the attempt is written and its scopes counted with it,
 * so attempts in flight count and N parallel requests cannot all pass one check (see
 * docs/security.md). Over a limit the attempt is refused (even a right one) and not kept, until
 * the oldest counted attempt leaves the window. Counts live in the database, so every instance
 * shares them.
 *
 * Scopes: `login:<name>` (passwords), `totp:<user id>` (second-factor codes, which a right
 * password does not forgive), `signup:<ip>` (new accounts), `ip:<ip>` (everything from an IP).
 */
export class SignInThrottle {
  private lastPrune = 0;

  constructor(
    private readonly repo: SessionRepository,
    private readonly limits: ThrottleLimits = DEFAULT_LIMITS,
  ) {}

  /** A password for this account name: a right one forgives the name's failed passwords. */
  password(account: string, ip: string, now = Date.now()): Promise<Reservation> {
    const scope = loginScope(account);
    return this.reserve([{ scope, limit: this.limits.perAccount }, this.ipScope(ip)], [scope], now);
  }

  /** A second-factor code for this user: a right one forgives the user's wrong codes. */
  secondFactor(userId: number, ip: string, now = Date.now()): Promise<Reservation> {
    const scope = `totp:${userId}`;
    return this.reserve([{ scope, limit: this.limits.perAccount }, this.ipScope(ip)], [scope], now);
  }

  /** A new account from this IP: a created account stays counted. */
  signUp(ip: string, now = Date.now()): Promise<Reservation> {
    return this.reserve([{ scope: `signup:${ip}`, limit: this.limits.signUpsPerIp }, this.ipScope(ip)], [], now);
  }

  /** Removes the attempts behind a success and forgives the failures of `scopes`. */
  async forgive(ids: readonly number[], scopes: readonly string[]): Promise<void> {
    await this.repo.removeFailures(ids);
    for (const scope of scopes) await this.repo.clearFailures(scope);
  }

  /** Drops attempts older than the window, at most once a minute per process. */
  async prune(now = Date.now()): Promise<void> {
    if (now - this.lastPrune <= 60_000) return;
    this.lastPrune = now;
    await this.repo.pruneFailures(now - this.limits.windowMs);
  }

  withdraw(ids: readonly number[]): Promise<void> {
    return this.repo.removeFailures(ids);
  }

  private ipScope(ip: string): Counted {
    return { scope: `ip:${ip}`, limit: this.limits.perIp };
  }

  private async reserve(counted: readonly Counted[], forgives: readonly string[], now: number): Promise<Reservation> {
    const over = (counts: Map<string, ScopeCount>) => counted.filter(({ scope, limit }) => (counts.get(scope)?.count ?? 0) > limit);
    const result = await this.repo.reserve(
      counted.map((c) => c.scope),
      now,
      now - this.limits.windowMs,
      (counts) => over(counts).length === 0,
    );
    if ('ids' in result) return { allowed: true, attempt: new Attempt(this, result.ids, forgives) };
    // Refused attempts run nothing and are not kept, so they do not extend the block.
    const until = Math.max(...over(result.refused).map(({ scope }) => result.refused.get(scope)!.oldest + this.limits.windowMs));
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((until - now) / 1000)) };
  }
}

/** One reserved attempt; the route says how it ended, once. */
export class Attempt {
  constructor(
    private readonly throttle: SignInThrottle,
    private readonly ids: readonly number[],
    private readonly forgives: readonly string[],
  ) {}

  /** A wrong password or code, or a created account: it stays counted. */
  counted(): Promise<void> {
    return this.throttle.prune();
  }

  /** The right password or code: the attempt does not count, and earlier failures of its kind are forgiven. */
  succeeded(): Promise<void> {
    return this.throttle.forgive(this.ids, this.forgives);
  }

  /** Nothing was tested (the request was refused for another reason): the attempt does not count. */
  withdrawn(): Promise<void> {
    return this.throttle.withdraw(this.ids);
  }
}

const loginScope = (account: string) => `login:${account.trim().toLowerCase().slice(0, 200)}`;
