import { randomBytes } from 'node:crypto';
import { KeywardError } from '../errors.js';
import type { Updateable } from 'kysely';
import type { UserRow, UsersTable } from '../storage/schema.js';
import type { TransactionRepos, Transactions } from '../storage/transactions.js';
import type { UserRepository } from '../storage/user-repository.js';
import { isUniqueViolation } from '../storage/database.js';
import { userJson } from './json.js';
import { pageSize } from './paging.js';
import { checkInput } from './schemas/check-input.js';
import { Password, RoleSchema, UserCreateInput, UserUpdateInput, type UserCreate, type UserJson, type UserUpdate } from './schemas/user.js';
import { isDbId, quote } from './values.js';

export { ROLES, type Role } from './schemas/user.js';

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

export class UserService {
  constructor(private readonly repos: { users: UserRepository; transactions: Transactions }) {}

  /** Creates an account; without `password` one is generated and returned, this once. */
  async create(args: UserCreate, actor: string, caller: UserCaller = FULL): Promise<UserJson & { password?: string }> {
    const input = checkInput(UserCreateInput, { ...args, username: args.username?.trim() ?? '', email: emailOf(args.email) });
    const { username } = input;
    const role = input.role ?? 'customer';
    if (role !== 'customer' && !caller.admin) throw adminOnly();
    const email = input.email ?? null;
    const generated = input.password === undefined ? randomBytes(12).toString('base64url') : undefined;
    const password = input.password ?? generated!;
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

  async get(id: number): Promise<UserJson> {
    return userJson(await this.row(id));
  }

  async findByUsername(username: string): Promise<UserJson | null> {
    const row = await this.repos.users.findByUsername(username);
    return row ? userJson(row) : null;
  }

  /** The user linked to this Discord account, or null. */
  async findByDiscordId(discordId: string): Promise<UserJson | null> {
    const row = await this.repos.users.findByDiscordId(discordId);
    return row ? userJson(row) : null;
  }

  async list(filter: { q?: string; role?: string; limit?: number; afterId?: number } = {}): Promise<UserJson[]> {
    const role = filter.role === undefined ? undefined : checkInput(RoleSchema, filter.role, 'role');
    const limit = pageSize(filter.limit);
    return (await this.repos.users.list({ q: filter.q, role, afterId: filter.afterId, limit })).map(userJson);
  }

  /**
   * Changes a user. Staff and admin accounts, and giving or taking those roles, need admin rights.
   * The last enabled admin is never demoted or disabled (checked and changed in one transaction, so
   * two admins demoting each other at once leave one). Disabling a user ends all their sessions.
   */
  async update(id: number, args: UserUpdate, actor: string, caller: UserCaller = FULL): Promise<UserJson> {
    const input = checkInput(UserUpdateInput, { ...args, email: emailOf(args.email) });
    const patch: Updateable<UsersTable> = { updated_at: Date.now() };
    if (input.role !== undefined) patch.role = input.role;
    if (input.email !== undefined) patch.email = input.email;
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
    checkInput(Password, password, 'password');
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
  async verifyPassword(login: string, password: string): Promise<UserJson | null> {
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

/** An email as stored: trimmed, and none when empty. */
const emailOf = (value: string | null | undefined): string | null | undefined => (value === undefined ? undefined : value?.trim() || null);
