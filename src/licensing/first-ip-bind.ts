import type { Transactions } from '../storage/transactions.js';

/** The system actor the audit log names for binds made by checks. */
const CHECK_ACTOR = 'system:check';

/**
 * A check's one write to a license: an IP-locked license with no allowed IPs takes its first
 * caller's IP. The bind and its `license.ip_bound` audit entry commit together. The bind only
 * happens while the list is still empty, so of two instances racing only one binds (and audits);
 * either way the change is announced, so both re-read what was bound. It runs after the check
 * has answered, once per license.
 */
export class FirstIpBind {
  constructor(
    private readonly transactions: Transactions,
    /** Told after a bind this call made is committed (the `check.ip_bound` webhook event). */
    private readonly onBound?: (licenseId: number, ips: string, time: number) => void,
  ) {}

  /** True when this call bound the IP; false when the license was bound (or changed) meanwhile. */
  async bind(licenseId: number, ip: string, now = Date.now()): Promise<boolean> {
    const ips = [ip];
    const text = JSON.stringify(ips);
    const won = await this.transactions.change('licenses', async (t) => {
      if (!(await t.licenses.bindIp(licenseId, text, now))) return false;
      await t.audit.insert({ actor: CHECK_ACTOR, action: 'license.ip_bound', targetType: 'license', targetId: licenseId, after: { ips } }, now);
      return true;
    });
    if (won) this.onBound?.(licenseId, text, now);
    return won;
  }
}
