import { createHash, randomBytes } from 'node:crypto';
import type { UserService } from '../../licensing/user-service.js';
import type { SettingsRepository } from '../../storage/settings-repository.js';

const PREFIX = 'setup_token:';
const TTL_MS = 24 * 3600_000;

const nameOf = (token: string) => `${PREFIX}${createHash('sha256').update(token, 'utf8').digest('hex')}`;

/**
 * First run: while no admin exists, each server start issues a one-time token (only its hash is
 * stored) whose URL creates the first admin. Creating an admin by any means voids all tokens.
 */
export class SetupTokens {
  constructor(
    private readonly settings: SettingsRepository,
    private readonly users: UserService,
  ) {}

  async issue(now = Date.now()): Promise<string> {
    const token = randomBytes(24).toString('base64url');
    await this.settings.set(nameOf(token), String(now + TTL_MS));
    return token;
  }

  /** True while the token is unused, unexpired and there is still no admin. */
  async isValid(token: string, now = Date.now()): Promise<boolean> {
    if (!/^[A-Za-z0-9_-]{32}$/.test(token)) return false;
    const expires = await this.settings.get(nameOf(token));
    if (expires === undefined || Number(expires) <= now) return false;
    if ((await this.users.adminCount()) > 0) {
      await this.settings.deleteByPrefix(PREFIX);
      return false;
    }
    return true;
  }

  /**
   * Uses the token up and creates the first admin. Returns null if the token is not (or no
   * longer) valid; input errors from the user service are thrown and give the token back.
   */
  async createAdmin(token: string, input: { username: string; password: string; email?: string | null }, now = Date.now()) {
    if (!(await this.isValid(token, now))) return null;
    const taken = await this.settings.take(nameOf(token));
    if (taken === undefined || Number(taken) <= now) return null;
    try {
      const user = await this.users.create({ ...input, role: 'admin' }, 'setup');
      await this.settings.deleteByPrefix(PREFIX);
      return { user } as const;
    } catch (err) {
      await this.settings.set(nameOf(token), taken);
      throw err;
    }
  }
}

/** The URL to print at start-up while no admin exists, or null once one does. */
export async function firstRunSetupUrl(deps: { setup: SetupTokens; users: UserService; publicUrl: string }): Promise<string | null> {
  if ((await deps.users.adminCount()) > 0) return null;
  const token = await deps.setup.issue();
  return `${deps.publicUrl}/setup?token=${token}`;
}
