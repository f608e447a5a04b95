import { randomBytes } from 'node:crypto';
import { KeywardError } from '../errors.js';
import type { AuditRepository } from '../storage/audit-repository.js';
import type { ChangeFeed } from '../storage/change-feed.js';
import type { UserRow } from '../storage/schema.js';
import type { UserRepository } from '../storage/user-repository.js';
import { isUniqueViolation } from '../storage/database.js';
import { userJson } from './json.js';
import { quote } from './values.js';

export const ROLES = ['customer', 'staff', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface UserCreate {
  username: string;
  /** A password is generated (and returned once) when absent. */
  password?: string;
  email?: string | null;
  role?: string;
}

export class UserService {
  constructor(
    private readonly repos: { users: UserRepository; audit: AuditRepository },
    private readonly changes: ChangeFeed,
  ) {}

  async create(input: UserCreate, actor: string): Promise<ReturnType<typeof userJson> & { password?: string }> {
    const username = input.username?.trim() ?? '';
    if (!/^[A-Za-z0-9_.-]{2,32}$/.test(username)) {
      throw new KeywardError('invalid_input', 'a username is 2-32 characters of letters, digits, "_", "." or "-"');
    }
    const role = (input.role ?? 'customer') as Role;
    if (!ROLES.includes(role)) throw new KeywardError('invalid_input', `a role is one of ${ROLES.join(', ')}`);
    const email = input.email?.trim() || null;
    if (email && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) throw new KeywardError('invalid_input', `${quote(email)} is not an email address`);
    const generated = input.password === undefined ? randomBytes(12).toString('base64url') : undefined;
    const password = input.password ?? generated!;
    if (password.length < 8) throw new KeywardError('invalid_input', 'a password is at least 8 characters');
    if (await this.repos.users.findByUsername(username)) throw new KeywardError('username_taken', `username "${username}" is taken`);
    const now = Date.now();
    let row: UserRow;
    try {
      row = await this.repos.users.insert({
        username,
        email,
        password_hash: await hashPassword(password),
        discord_id: null,
        role,
        disabled: 0,
        created_at: now,
        updated_at: now,
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new KeywardError('username_taken', `username "${username}" is taken`);
      throw err;
    }
    const user = userJson(row);
    await this.repos.audit.insert({ actor, action: 'user.created', targetType: 'user', targetId: row.id, after: user }, now);
    await this.changes.announce();
    return generated ? { ...user, password: generated } : user;
  }

  async adminCount(): Promise<number> {
    return this.repos.users.countAdmins();
  }
}

/** argon2id, loaded on first use so commands that never hash do not load the native module. */
async function hashPassword(password: string): Promise<string> {
  const { default: argon2 } = await import('argon2');
  return argon2.hash(password, { type: argon2.argon2id });
}
