import { createHash, randomBytes } from 'node:crypto';
import { KeywardError } from '../errors.js';
import { iso } from './json.js';
import { checkInput } from './schemas/check-input.js';
import { TokenName, type Token, type TokenCreate } from './schemas/token.js';
import { isDbId } from './values.js';
import type { ApiTokenRepository } from '../storage/api-token-repository.js';
import type { ChangeFeed } from '../storage/change-feed.js';
import { isUniqueViolation } from '../storage/database.js';
import type { ApiTokenRow } from '../storage/schema.js';
import type { Transactions } from '../storage/transactions.js';
import type { Static } from 'typebox';

export const SCOPE_RESOURCES = ['products', 'licenses', 'policies', 'users', 'logs', 'webhooks'] as const;
export type ScopeResource = (typeof SCOPE_RESOURCES)[number];
/**
 * `users:admin` adds, to `users:write`, creating and changing staff and admin accounts and giving or
 * taking those roles (UserService decides). Only admins (dashboard) and the CLI create tokens, so
 * only they can grant it.
 */
export type Scope = `${ScopeResource}:${'read' | 'write'}` | 'users:admin';
export const SCOPES: readonly Scope[] = SCOPE_RESOURCES.flatMap((r): Scope[] => (r === 'users' ? [`${r}:read`, `${r}:write`, 'users:admin'] : [`${r}:read`, `${r}:write`]));

/** Who is calling: a live token, as the API's routes see it. */
export interface ApiPrincipal {
  id: number;
  name: string;
  scopes: ReadonlySet<Scope>;
}

export type TokenJson = Omit<Static<typeof Token>, 'scopes'> & { scopes: Scope[] };

const TOKEN_RE = /^kw_[A-Za-z0-9_-]{43}$/;
/** How long a looked-up token is trusted without asking the database (revocation also clears it). */
const CACHE_MS = 10_000;
const CACHE_MAX = 1000;
/** Last-used times are written at most this often per token, in the background. */
const TOUCH_EVERY_MS = 60_000;
const TOUCH_FLUSH_MS = 5_000;

export const digestToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/**
 * API tokens: `kw_` + 256 random bits, stored only as a SHA-256 digest (the token has enough
 * entropy that a slow hash adds nothing). Shown once, at creation. Used by the CLI
 * (`keyward token …`), the dashboard and the API's authentication.
 */
export class TokenService {
  private readonly cache = new Map<string, { principal: ApiPrincipal; lastUsedAt: number | null; at: number }>();
  private readonly touched = new Map<number, number>();
  private touchTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly repos: { tokens: ApiTokenRepository; transactions: Transactions },
    changes: ChangeFeed,
  ) {
    // A token revoked anywhere (CLI, dashboard, another instance) stops working at once.
    changes.onChange('tokens', () => this.cache.clear());
  }

  async create(input: TokenCreate, actor: string): Promise<TokenJson & { token: string }> {
    const name = checkName(input.name);
    const scopes = parseScopes(input.scopes);
    const token = `kw_${randomBytes(32).toString('base64url')}`;
    const now = Date.now();
    let json: TokenJson;
    try {
      json = await this.repos.transactions.change('tokens', async (t) => {
        const row = await t.tokens.insert({
          name,
          token_digest: digestToken(token),
          prefix: token.slice(0, 9),
          scopes: JSON.stringify(scopes),
          created_by: actor,
          created_at: now,
          last_used_at: null,
          revoked_at: null,
        });
        const created = tokenJson(row);
        await t.audit.insert({ actor, action: 'token.created', targetType: 'token', targetId: row.id, after: created }, now);
        return created;
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new KeywardError('token_name_taken', `a token named "${name}" already exists`);
      throw err;
    }
    return { ...json, token };
  }

  async list(options: { includeRevoked?: boolean } = {}): Promise<TokenJson[]> {
    await this.flushUsage();
    return (await this.repos.tokens.list(options.includeRevoked ?? false)).map(tokenJson);
  }

  async get(id: number): Promise<TokenJson> {
    const row = isDbId(id) ? await this.repos.tokens.get(id) : undefined;
    if (!row) throw new KeywardError('token_not_found', `token ${id} does not exist`);
    return tokenJson(row);
  }

  async revoke(id: number, actor: string): Promise<TokenJson> {
    const before = await this.get(id);
    if (before.revokedAt) throw new KeywardError('conflict', `token ${id} is already revoked`);
    // Announced on `tokens`: a token revoked anywhere stops working at once in every process.
    return this.repos.transactions.change('tokens', async (t) => {
      const now = Date.now();
      if (!(await t.tokens.revoke(id, now))) throw new KeywardError('conflict', `token ${id} is already revoked`);
      const after = tokenJson((await t.tokens.get(id))!);
      await t.audit.insert({ actor, action: 'token.revoked', targetType: 'token', targetId: id, before, after }, now);
      return after;
    });
  }

  /** The live token this bearer value names, or null. Records its use off the request's path. */
  async authenticate(token: string): Promise<ApiPrincipal | null> {
    if (!TOKEN_RE.test(token)) return null;
    const digest = digestToken(token);
    const now = Date.now();
    let hit = this.cache.get(digest);
    if (!hit || now - hit.at > CACHE_MS) {
      const row = await this.repos.tokens.findByDigest(digest);
      if (!row || row.revoked_at !== null) {
        this.cache.delete(digest);
        return null;
      }
      hit = { principal: { id: row.id, name: row.name, scopes: new Set(parseStoredScopes(row.scopes)) }, lastUsedAt: row.last_used_at, at: now };
      if (this.cache.size >= CACHE_MAX) this.cache.clear();
      this.cache.set(digest, hit);
    }
    if (hit.lastUsedAt === null || now - hit.lastUsedAt >= TOUCH_EVERY_MS) {
      hit.lastUsedAt = now;
      this.touched.set(hit.principal.id, now);
      this.touchTimer ??= setTimeout(() => {
        this.touchTimer = null;
        this.flushUsage().catch(() => {});
      }, TOUCH_FLUSH_MS).unref();
    }
    return hit.principal;
  }

  /** Writes pending last-used times (called on a timer, and when the server stops). */
  async flushUsage(): Promise<void> {
    if (this.touchTimer) clearTimeout(this.touchTimer);
    this.touchTimer = null;
    if (this.touched.size === 0) return;
    const batch = new Map(this.touched);
    this.touched.clear();
    await this.repos.tokens.touch(batch);
  }
}

export function tokenJson(row: ApiTokenRow): TokenJson {
  return {
    id: row.id,
    name: row.name,
    scopes: parseStoredScopes(row.scopes),
    prefix: row.prefix,
    createdBy: row.created_by,
    createdAt: iso(row.created_at)!,
    lastUsedAt: iso(row.last_used_at),
    revokedAt: iso(row.revoked_at),
  };
}

/** `licenses:read,licenses:write` or a list; every scope must be known; at least one. */
export function parseScopes(input: string | readonly string[]): Scope[] {
  const items = (typeof input === 'string' ? input.split(',') : input).map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new KeywardError('invalid_input', `a token needs at least one scope (${SCOPES.join(', ')})`);
  const unknown = items.filter((s) => !SCOPES.includes(s as Scope));
  if (unknown.length) {
    const shown = unknown.map((s) => (s.length <= 32 ? `"${s}"` : `a value of ${s.length} characters`)).join(', ');
    throw new KeywardError('invalid_input', `unknown scope ${shown}; scopes are ${SCOPES.join(', ')}`);
  }
  return SCOPES.filter((s) => items.includes(s));
}

function parseStoredScopes(text: string): Scope[] {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? SCOPES.filter((s) => value.includes(s)) : [];
  } catch {
    return [];
  }
}

const checkName = (value: string | undefined): string => checkInput(TokenName, value?.trim() ?? '', 'name');
