import { KeywardError } from '../errors.js';
import type { LicenseRepository } from '../storage/license-repository.js';
import type { TransactionRepos, Transactions } from '../storage/transactions.js';
import type { UsageOutcome } from './check-license.js';
import { licenseJson } from './json.js';
import type { DomainEvent, EventOutbox } from './machine-events.js';
import { LIMITS } from './schemas/limits.js';
import { isDbId } from './values.js';

/** What staff do to a usage counter (docs/license-files.md, "Feature tiers and metered licenses"). */
export type UsageChange = { increment: number } | { decrement: number } | { reset: true };

export interface UsageJson {
  licenseId: number;
  uses: number;
  maxUses: number | null;
}

/**
 * Metered usage: a license's counter and its limit (its own, else its policy's). Every change is
 * one guarded UPDATE (LicenseRepository.addUses), so concurrent increments through any number of
 * instances never pass the limit; `license.usage_limit_reached` is queued in the same transaction
 * by the one change that reaches the limit. Usage is not announced to the change feed: no cached
 * license holds it, so a counter's change empties no cache.
 */
export class UsageService {
  constructor(
    private readonly repos: { licenses: LicenseRepository; transactions: Transactions },
    private readonly outbox?: EventOutbox,
  ) {}

  /** The key holder's `POST /api/license/usage`: counts `increment` unless that passes the limit. Null when the license is gone. */
  async use(licenseId: number, increment: number, now = Date.now()): Promise<UsageOutcome | null> {
    return this.repos.transactions.change([], async (t) => {
      const done = await t.licenses.addUses(licenseId, increment);
      if (!done) {
        const usage = await t.licenses.usage(licenseId);
        return usage && { status: 'USAGE EXCEEDED', ...usage };
      }
      await this.reached(t, licenseId, done, now);
      return { status: 'OK', ...done };
    });
  }

  /** The counter as stored now (null when the license is gone). */
  async uses(licenseId: number): Promise<number | null> {
    return (await this.repos.licenses.usage(licenseId))?.uses ?? null;
  }

  async get(licenseId: number): Promise<UsageJson> {
    const usage = isDbId(licenseId) ? await this.repos.licenses.usage(licenseId) : null;
    if (!usage) throw notFound(licenseId);
    return { licenseId, ...usage };
  }

  /**
   * Staff change a counter (management API, CLI, dashboard), audited: an increment within the
   * limit (`usage_exceeded` otherwise), a decrement down to 0 at most, or a reset to 0.
   */
  async change(licenseId: number, change: UsageChange, actor: string, now = Date.now()): Promise<UsageJson> {
    if (!isDbId(licenseId)) throw notFound(licenseId);
    const amount = 'reset' in change ? 0 : 'increment' in change ? change.increment : change.decrement;
    if ('reset' in change ? change.reset !== true : !Number.isSafeInteger(amount) || amount < 1 || amount > LIMITS.usage.increment.max) {
      throw new KeywardError('invalid_input', `the amount must be a whole number from 1 to ${LIMITS.usage.increment.max.toLocaleString('en-US')}`);
    }
    return this.repos.transactions.change([], async (t) => {
      if (!(await t.licenses.lock(licenseId))) throw notFound(licenseId);
      const before = (await t.licenses.usage(licenseId))!;
      let after: { uses: number; maxUses: number | null } | null;
      if ('reset' in change) {
        await t.licenses.setUses(licenseId, 0);
        after = { uses: 0, maxUses: before.maxUses };
      } else {
        after = await t.licenses.addUses(licenseId, 'increment' in change ? amount : -amount);
        if (!after && 'increment' in change) throw new KeywardError('usage_exceeded', `license ${licenseId} would pass its usage limit (${before.uses} of ${before.maxUses} used)`);
        if (!after) throw new KeywardError('invalid_input', `the usage counter cannot go below 0 (it is ${before.uses})`);
        if ('increment' in change) await this.reached(t, licenseId, after, now);
      }
      const action = 'reset' in change ? 'license.usage_reset' : 'increment' in change ? 'license.usage_incremented' : 'license.usage_decremented';
      await t.audit.insert({ actor, action, targetType: 'license', targetId: licenseId, before: { uses: before.uses }, after: { uses: after.uses } }, now);
      return { licenseId, ...after };
    });
  }

  /** Queues `license.usage_limit_reached` when this change brought the counter to its limit. */
  private async reached(t: TransactionRepos, licenseId: number, usage: { uses: number; maxUses: number | null }, now: number): Promise<void> {
    if (usage.maxUses === null || usage.uses !== usage.maxUses || !this.outbox) return;
    const license = (await t.licenses.get(licenseId))!;
    const event: DomainEvent = { type: 'license.usage_limit_reached', time: now, data: { license: licenseJson(license), uses: usage.uses, maxUses: usage.maxUses } };
    await this.outbox.queueIn(t, [event]);
  }
}

const notFound = (id: number) => new KeywardError('license_not_found', `license ${id} does not exist`);
