import { Secret, TOTP } from 'otpauth';
import type { KeyCipher } from '../../licensing/key.js';
import type { Transactions } from '../../storage/transactions.js';
import type { UserRepository } from '../../storage/user-repository.js';

const PERIOD = 30;

export interface Enrolment {
  /** Base32, for typing into an authenticator app. */
  secret: string;
  /** otpauth:// URI, for apps that take a link or for a QR code. */
  uri: string;
}

/**
 * Optional TOTP (RFC 6238, 6 digits, 30 s) second factor. The secret is stored encrypted with the
 * server secret; each accepted time step is recorded so a code cannot be replayed. Turning it on or
 * off commits in one transaction with its audit entry.
 */
export class TwoFactorService {
  constructor(
    private readonly users: UserRepository,
    private readonly transactions: Transactions,
    private readonly cipher: KeyCipher,
    private readonly issuer = 'Keyward',
  ) {}

  /** Starts (or restarts) enrolment: a new secret, inactive until a code from it is confirmed. */
  async begin(userId: number, username: string): Promise<Enrolment> {
    const secret = new Secret({ size: 20 });
    await this.users.setTotp(userId, this.cipher.encrypt(secret.base32), false, Date.now());
    return { secret: secret.base32, uri: this.totp(secret, username).toString() };
  }

  /** The enrolment in progress (secret set, not yet confirmed), or null. */
  async pending(userId: number, username: string): Promise<Enrolment | null> {
    const row = await this.users.get(userId);
    if (!row?.totp_secret || row.totp_enabled === 1) return null;
    const secret = Secret.fromBase32(this.cipher.decrypt(row.totp_secret));
    return { secret: secret.base32, uri: this.totp(secret, username).toString() };
  }

  /** Confirms enrolment with a code from the app; false if the code is wrong. */
  async confirm(userId: number, code: string, actor: string): Promise<boolean> {
    const row = await this.users.get(userId);
    if (!row?.totp_secret || row.totp_enabled === 1) return false;
    const step = this.match(row.totp_secret, row.username, code);
    if (step === null) return false;
    await this.transactions.change('users', async (t) => {
      const now = Date.now();
      await t.users.enableTotp(userId, step, now);
      await t.audit.insert({ actor, action: 'user.totp_enabled', targetType: 'user', targetId: userId }, now);
    });
    return true;
  }

  /** Checks a sign-in code; a code already used (same or earlier step) is refused. */
  async verify(userId: number, code: string): Promise<boolean> {
    const row = await this.users.get(userId);
    if (!row?.totp_secret || row.totp_enabled !== 1) return false;
    const step = this.match(row.totp_secret, row.username, code);
    if (step === null) return false;
    return this.users.claimTotpStep(userId, step);
  }

  async disable(userId: number, actor: string): Promise<void> {
    await this.transactions.change('users', async (t) => {
      const now = Date.now();
      await t.users.setTotp(userId, null, false, now);
      await t.audit.insert({ actor, action: 'user.totp_disabled', targetType: 'user', targetId: userId }, now);
    });
  }

  /** The time step the code belongs to (now ± one step), or null. */
  private match(stored: string, username: string, code: string): number | null {
    const token = code.replace(/\s+/g, '');
    if (!/^\d{6}$/.test(token)) return null;
    const totp = this.totp(Secret.fromBase32(this.cipher.decrypt(stored)), username);
    const now = Date.now();
    const delta = totp.validate({ token, timestamp: now, window: 1 });
    return delta === null ? null : totp.counter({ timestamp: now }) + delta;
  }

  private totp(secret: Secret, username: string): TOTP {
    return new TOTP({ issuer: this.issuer, label: username, algorithm: 'SHA1', digits: 6, period: PERIOD, secret });
  }
}
