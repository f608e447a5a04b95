import { randomBytes } from 'node:crypto';
import { KeywardError } from '../errors.js';
import type { Updateable } from 'kysely';
import type { UserRow, UsersTable } from '../storage/schema.js';
import type { TransactionRepos, Transactions } from '../storage/transactions.js';
import type { UserRepository } from '../storage/user-repository.js';
import { isUniqueViolation } from '../storage/database.js';
import { userJson } from './json.js';
import { isDbId, quote } from './values.js';

export const ROLES = ['customer', 'staff', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/**
 * Who changes users, and with what rights. The dashboard passes the signed-in person, the API its
 * token's rights, the CLI full rights. Left out only by built-in flows that choose the role
 * themselves (first-run setup, sign-up, Discord sign-in), which have full rights.
 */
export interface UserCaller {
  /**
   * May create and change staff and admin accounts and give or take those roles: a dashboard
   * admin, an API token with the `users:admin` scope, the CLI. Without it, customers only.
   */
  admin: boolean;
  /** The signed-in person's own id: nobody disables their own sign-in. */
  userId?: number;
}

const FULL: UserCaller = { admin: true };

/** Whether this caller may change this account at all: staff and admin accounts need admin rights. */
export const mayChangeUser = (caller: UserCaller, target: { role: string }): boolean => caller.admin || target.role === 'customer';

const adminOnly = () =>
  new KeywardError('forbidden', 'only an admin may create or change staff and admin accounts, or give or take the staff or admin role');

export interface UserUpdate {
  role?: string;
  email?: string | null;
  disabled?: boolean;
  discordId?: string | null;
}

export interface UserCreate {
  username: string;
  /** A password is generated (and returned once) when absent. */
  password?: string;
  email?: string | null;
  role?: string;
}

export class UserService {
  constructor(private readonly repos: { users: UserRepository; transactions: Transactions }) {}

  async create(input: UserCreate, actor: string, caller: UserCaller = FULL): Promise<ReturnType<typeof userJson> & { password?: string }> {
    const username = input.username?.trim() ?? '';
    if (!/^[A-Za-z0-9_.-]{2,32}$/.test(username)) {
      throw new KeywardError('invalid_input', 'a username is 2-32 characters of letters, digits, "_", "." or "-"');
    }
    const role = checkRole(input.role ?? 'customer');
    if (role !== 'customer' && !caller.admin) throw adminOnly();
    const email = checkEmail(input.email);
    const generated = input.password === undefined ? randomBytes(12).toString('base64url') : undefined;
    const password = checkPassword(input.password ?? generated!);
    if (await this.repos.users.findByUsername(username)) throw new KeywardError('username_taken', `username "${username}" is taken`);
    const passwordHash = await hashPassword(password);
    const now = Date.now();
    let user: ReturnType<typeof userJson>;
    try {
      user = await this.repos.transactions.change('users', async (t) => {
        const row = await t.users.insert({
          username,
          email,
          password_hash: passwordHash,
          discord_id: null,
          role,
          disabled: 0,
          created_at: now,
          updated_at: now,
        });
        const created = userJson(row);
        await t.audit.insert({ actor, action: 'user.created', targetType: 'user', targetId: row.id, after: created }, now);
        return created;
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new KeywardError('username_taken', `username "${username}" is taken`);
      throw err;
    }
    return generated ? { ...user, password: generated } : user;
  }

  async get(id: number) {
    return userJson(await this.row(id));
  }

  async findByUsername(username: string) {
    const row = await this.repos.users.findByUsername(username);
    return row ? userJson(row) : null;
  }

  /** The user linked to this Discord account, or null. */
  async findByDiscordId(discordId: string) {
    const row = await this.repos.users.findByDiscordId(discordId);
    return row ? userJson(row) : null;
  }

  async list(filter: { q?: string; role?: string; limit?: number; afterId?: number } = {}) {
    const role = filter.role === undefined ? undefined : checkRole(filter.role);
    const limit = Math.min(Math.max(filter.limit ?? 100, 1), 10_000);
    return (await this.repos.users.list({ q: filter.q, role, afterId: filter.afterId, limit })).map(userJson);
  }

  /**
   * Changes a user. Staff and admin accounts, and giving or taking those roles, need admin rights.
   * The last enabled admin is never demoted or disabled (checked and changed in one transaction, so
   * two admins demoting each other at once leave one). Disabling a user ends all their sessions.
   */
  async update(id: number, input: UserUpdate, actor: string, caller: UserCaller = FULL) {
    const patch: Updateable<UsersTable> = { updated_at: Date.now() };
    if (input.role !== undefined) patch.role = checkRole(input.role);
    if (input.email !== undefined) patch.email = checkEmail(input.email);
    if (input.disabled !== undefined) patch.disabled = input.disabled ? 1 : 0;
    if (input.discordId !== undefined) patch.discord_id = input.discordId;
    if (patch.role !== undefined && patch.role !== 'customer' && !caller.admin) throw adminOnly();
    if (input.disabled === true && caller.userId === id) throw new KeywardError('conflict', 'you cannot disable your own sign-in');
    if (!isDbId(id)) throw notFound(id);
    const mayTakeAdminAway = patch.role !== undefined || input.disabled === true;
    try {
      return await this.repos.transactions.change('users', async (t) => {
        // Locked before reading: another transaction taking another admin away waits for this one.
        if (mayTakeAdminAway) await t.users.lockEnabledAdmins();
        // A write first also locks the user's row (and keeps SQLite from upgrading a read snapshot).
        await t.users.update(id, { updated_at: patch.updated_at });
        const row = await t.users.get(id);
        if (!row) throw notFound(id);
        const before = userJson(row);
        if (!mayChangeUser(caller, before)) throw adminOnly();
        const enabledAdmin = before.role === 'admin' && !before.disabled;
        const staysEnabledAdmin = (patch.role ?? before.role) === 'admin' && (patch.disabled ?? row.disabled) === 0;
        if (enabledAdmin && !staysEnabledAdmin && (await t.users.countEnabledAdmins(id)) === 0) {
          throw new KeywardError('conflict', `${quote(before.username)} is the only enabled admin; make another admin first`);
        }
        await t.users.update(id, patch);
        if (input.disabled === true) await t.sessions.deleteForUser(id);
        const after = userJson((await t.users.get(id))!);
        await t.audit.insert({ actor, action: 'user.updated', targetType: 'user', targetId: id, before, after });
        return after;
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new KeywardError('conflict', 'that Discord account is linked to another user');
      throw err;
    }
  }

  async setPassword(id: number, password: string, actor: string, caller: UserCaller = FULL): Promise<void> {
    const row = await this.row(id);
    if (!mayChangeUser(caller, row)) throw adminOnly();
    checkPassword(password);
    const passwordHash = await hashPassword(password);
    await this.repos.transactions.change('users', async (t) => {
      const now = Date.now();
      await t.users.update(id, { password_hash: passwordHash, updated_at: now });
      await t.audit.insert({ actor, action: 'user.password_changed', targetType: 'user', targetId: id }, now);
    });
  }

  /**
   * The user whose username or email and password match, or null. A disabled account or one
   * without a password never matches; the time taken does not tell which part was wrong.
   */
  async verifyPassword(login: string, password: string) {
    const row = await this.repos.users.findByLogin(login.trim());
    const { default: argon2 } = await import('argon2');
    const hash = row?.password_hash ?? DUMMY_HASH;
    const ok = await argon2.verify(hash, password).catch(() => false);
    if (!row || !row.password_hash || !ok || row.disabled === 1) return null;
    return userJson(row);
  }

  private async row(id: number): Promise<UserRow> {
    const row = isDbId(id) ? await this.repos.users.get(id) : undefined;
    if (!row) throw notFound(id);
    return row;
  }

  async adminCount(): Promise<number> {
    return this.repos.users.countAdmins();
  }
}

const notFound = (id: number) => new KeywardError('user_not_found', `user ${id} does not exist`);

/** argon2id, loaded on first use so commands that never hash do not load the native module. */
async function hashPassword(password: string): Promise<string> {
  const { default: argon2 } = await import('argon2');
  return argon2.hash(password, { type: argon2.argon2id });
}

// A valid argon2id hash of a random password, verified against when no user matches.
const DUMMY_HASH = '$argon2id$v=19$m=65536,p=4,t=3$z25VZBkGB2RvB0087ie7VQ$4BWaX82gMSXH7Q4Ph7tzi839vuVqvNwg/+CctXNfFT0';

function checkRole(role: string): Role {
  if (!ROLES.includes(role as Role)) throw new KeywardError('invalid_input', `a role is one of ${ROLES.join(', ')}`);
  return role as Role;
}

function checkEmail(value: string | null | undefined): string | null {
  const email = value?.trim() || null;
  if (email && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) throw new KeywardError('invalid_input', `${quote(email)} is not an email address`);
  return email;
}

function checkPassword(password: string): string {
  if (password.length < 8) throw new KeywardError('invalid_input', 'a password is at least 8 characters');
  if (password.length > 1024) throw new KeywardError('invalid_input', 'a password is at most 1024 characters');
  return password;
}
