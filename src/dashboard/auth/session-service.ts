import { createHash, randomBytes } from 'node:crypto';
import type { SessionRepository } from '../../storage/session-repository.js';
import type { SettingsRepository } from '../../storage/settings-repository.js';
import type { UserRepository } from '../../storage/user-repository.js';
import type { SessionRow, UserRow } from '../../storage/schema.js';

export const SESSION_TTL_MS = 14 * 24 * 3600_000;
/** A password is right but the second factor is still owed: a short-lived, limited session. */
export const PENDING_TTL_MS = 10 * 60_000;
/** Sliding expiry is written at most this often per session, not on every request. */
const TOUCH_EVERY_MS = 5 * 60_000;

export type Role = UserRow['role'];

/** The signed-in user as pages and guards see it (never the password hash or TOTP secret). */
export interface CurrentUser {
  id: number;
  username: string;
  email: string | null;
  role: Role;
  discordId: string | null;
  totpEnabled: boolean;
  hasPassword: boolean;
}

export interface ResolvedSession {
  sessionId: number;
  stage: 'full' | 'totp';
  user: CurrentUser;
}

export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/**
 * Server-side sessions: the browser holds a random 256-bit token, the database only its SHA-256,
 * so a database dump cannot be replayed as a cookie. Disabled users' sessions stop resolving.
 */
export class SessionService {
  private lastPrune = 0;

  constructor(
    private readonly repo: SessionRepository,
    private readonly users: UserRepository,
    private readonly settings: SettingsRepository,
  ) {}

  /** The CSRF HMAC key, shared through the database so every instance accepts every instance's tokens. */
  csrfKey(): Promise<string> {
    return this.settings.setIfAbsent('dashboard_csrf_key', randomBytes(32).toString('hex'));
  }

  /** The user as a session describes it (two-factor state included), or null. */
  async describe(userId: number): Promise<CurrentUser | null> {
    const row = await this.users.get(userId);
    return row ? currentUser(row) : null;
  }

  async start(userId: number, stage: 'full' | 'totp', meta: { ip: string | null; userAgent: string | null }, now = Date.now()) {
    const token = randomBytes(32).toString('base64url');
    const ttl = stage === 'full' ? SESSION_TTL_MS : PENDING_TTL_MS;
    const id = await this.repo.insert({
      token_hash: hashToken(token),
      user_id: userId,
      stage,
      created_at: now,
      last_seen_at: now,
      expires_at: now + ttl,
      ip: meta.ip,
      user_agent: meta.userAgent ? meta.userAgent.slice(0, 300) : null,
    });
    await this.prune(now);
    return { token, id, maxAgeSeconds: Math.floor(ttl / 1000) };
  }

  /** The live session behind a cookie token, or null (unknown, expired, or its user is disabled). */
  async resolve(token: string, now = Date.now()): Promise<ResolvedSession | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
    const found = await this.repo.findByHash(hashToken(token), now);
    if (!found) return null;
    const { session, user } = found;
    if (user.disabled === 1) {
      await this.repo.delete(session.id);
      return null;
    }
    if (session.stage === 'full' && now - session.last_seen_at > TOUCH_EVERY_MS) {
      await this.repo.touch(session.id, now, now + SESSION_TTL_MS);
    }
    return { sessionId: session.id, stage: session.stage === 'totp' ? 'totp' : 'full', user: currentUser(user) };
  }

  end(sessionId: number): Promise<void> {
    return this.repo.delete(sessionId);
  }

  /** Ends every session of the user (a new password, staff disabling the account, …). */
  endAll(userId: number): Promise<number> {
    return this.repo.deleteForUser(userId);
  }

  /**
   * "Sign out everywhere", asked by one of the user's sessions: only a fully signed-in one may, so
   * a password without the second factor cannot sign the owner out. Null when refused.
   */
  async endEverywhere(session: ResolvedSession): Promise<number | null> {
    if (session.stage !== 'full') return null;
    return this.repo.deleteForUser(session.user.id);
  }

  list(userId: number, now = Date.now()): Promise<SessionRow[]> {
    return this.repo.listForUser(userId, now);
  }

  private async prune(now: number): Promise<void> {
    if (now - this.lastPrune < 3600_000) return;
    this.lastPrune = now;
    await this.repo.deleteExpired(now);
  }
}

export function currentUser(u: UserRow): CurrentUser {
  return {
    id: u.id,
    username: u.username,
    email: u.email,
    role: u.role,
    discordId: u.discord_id,
    totpEnabled: u.totp_enabled === 1,
    hasPassword: u.password_hash !== null,
  };
}
