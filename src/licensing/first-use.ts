import type { Transactions } from '../storage/transactions.js';
import { licenseJson } from './json.js';
import type { LicenseEventOutbox } from './license-events.js';

const DAY_MS = 86_400_000;

/**
 * A first-use license's clock (docs/machines.md): its expiry starts at its first passing answer
 * from any endpoint, written before that answer goes out. Only the first caller sets it: the update
 * waits for the license's row and re-reads it, so instances racing all answer the same expiry.
 */
export class FirstUse {
  constructor(
    private readonly transactions: Transactions,
    private readonly outbox?: LicenseEventOutbox,
  ) {}

  /** Starts the clock if it is still waiting; returns the license's expiry (null: gone or perpetual). */
  async start(licenseId: number, now = Date.now()): Promise<number | null> {
    return this.transactions.change('licenses', async (t) => {
      if (!(await t.licenses.lock(licenseId))) return null;
      const record = (await t.licenses.get(licenseId))!;
      if (record.first_use_days === null) return record.expires_at;
      const expiresAt = now + record.first_use_days * DAY_MS;
      const before = licenseJson(record);
      await t.licenses.update(licenseId, { expires_at: expiresAt, first_use_days: null, updated_at: now });
      const after = licenseJson((await t.licenses.get(licenseId))!);
      await t.audit.insert({ actor: 'license key', action: 'license.first_used', targetType: 'license', targetId: licenseId, before, after }, now);
      await this.outbox?.queue(t, [{ type: 'license.updated', time: now, license: after, previous: before }]);
      return expiresAt;
    });
  }
}
