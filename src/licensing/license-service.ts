import { KeywardError } from '../errors.js';
import type { AuditRepository } from '../storage/audit-repository.js';
import { isUniqueViolation } from '../storage/database.js';
import type { LicenseRecord, LicenseRepository } from '../storage/license-repository.js';
import type { ProductRepository } from '../storage/product-repository.js';
import type { PolicyRecord, PolicyRepository } from '../storage/policy-repository.js';
import { freeAllMachines } from './machine-service.js';
import { existingProducts } from './product-service.js';
import { uniqueCodes } from './policy-service.js';
import type { UserRepository } from '../storage/user-repository.js';
import type { LicensesTable } from '../storage/schema.js';
import type { TransactionRepos, Transactions } from '../storage/transactions.js';
import type { Updateable } from 'kysely';
import { customerAllowListProblem, normalizeAllowList } from './ip-allow-list.js';
import { auditJson, licenseJson } from './json.js';
import type { LicenseEvent, LicenseEventOutbox } from './license-events.js';
import { checkKeyFormat, digestKey, generateKey, type KeyCipher } from './key.js';
import type { Role } from './user-service.js';
import type { LicenseState } from './license-state.js';
export type { LicenseSearch } from './schemas/license.js';
import { decodeCursor, pageOf, pageSize, type Page } from './paging.js';
import { checkInput } from './schemas/check-input.js';
import {
  LicenseCreateInput,
  LicenseSearchInput,
  LicenseUpdateInput,
  type LicenseCreate,
  type LicenseJson,
  type LicenseSearch,
  type LicenseUpdate,
} from './schemas/license.js';
import { isDbId, parseIsoTime, quote } from './values.js';

/** What creating a license takes (see LicenseCreateInput); `ips` may also be comma-separated text. */
export type LicenseCreateArgs = Omit<LicenseCreate, 'ips' | 'productIds'> & { productIds?: readonly number[]; ips?: string | readonly string[] };
/** What changing a license takes (see LicenseUpdateInput); `ips` may also be comma-separated text. */
export type LicenseUpdateArgs = Omit<LicenseUpdate, 'ips' | 'productIds'> & { productIds?: readonly number[]; ips?: string | readonly string[] };

/**
 * Who changes a license. Staff and admins (dashboard staff pages, and the trusted tools: API
 * tokens, the CLI, imports) have full control. A customer changes only their own license, only its
 * allowed IPs and on/off switch, within the customer rules (docs/dashboard.md).
 */
export interface LicenseCaller {
  role: Role;
  /** The signed-in person's id: a customer's license must be theirs. */
  userId?: number;
}

/** A signed-in person asking to see a license's clear key. */
export interface KeyViewer {
  userId: number;
  role: Role;
}

export interface LicenseServiceOptions {
  /** How often a customer may change one license's allowed IPs in 24 hours (0: only staff may). */
  ipChangesPerDay?: number;
}

const STAFF: LicenseCaller = { role: 'staff' };
const CUSTOMER_FIELDS: readonly (keyof LicenseUpdate)[] = ['ips', 'active'];
const DAY_MS = 86_400_000;

/**
 * Issuing and changing licenses: validation, key handling, and each change in one transaction with
 * its audit entry and its webhook deliveries (the outbox), announced after it commits.
 */
export class LicenseService {
  constructor(
    private readonly repos: {
      licenses: LicenseRepository;
      products: ProductRepository;
      policies: PolicyRepository;
      users: UserRepository;
      audit: AuditRepository;
      transactions: Transactions;
    },
    private readonly cipher: KeyCipher,
    /** Queues every change's event (license.created/updated/deleted/regenerated) in its transaction, e.g. webhooks. */
    private readonly outbox?: LicenseEventOutbox,
    private readonly options: LicenseServiceOptions = {},
  ) {}

  async create(args: LicenseCreateArgs, actor: string): Promise<LicenseJson & { key: string }> {
    const input = checkInput(LicenseCreateInput, { ...args, ips: listOf(args.ips) });
    const policy = input.policyId === undefined || input.policyId === null ? null : await this.policy(input.policyId);
    // The policy gives what the license does not say itself: its products and its duration.
    const productIds = await this.checkProducts(input.productIds ?? policy?.productIds ?? []);
    const key = input.key ?? generateKey();
    const keyProblem = checkKeyFormat(key);
    if (keyProblem) throw new KeywardError('invalid_input', keyProblem);
    const digest = digestKey(key);
    if (await this.repos.licenses.findByDigest(digest)) throw new KeywardError('key_exists', 'a license with this key already exists');
    const now = Date.now();
    const row = {
      key_digest: digest,
      key_cipher: this.cipher.encrypt(key),
      owner_id: await this.ownerId(input.owner),
      active: 1,
      disabled: 0,
      ip_locked: input.ipLocked ? 1 : 0,
      ips: JSON.stringify(allowList(input.ips ?? [])),
      expires_at: input.expiresAt !== undefined || !policy?.duration_days || policy.expiry_basis === 'first-use' ? expiry(input.expiresAt) : now + policy.duration_days * DAY_MS,
      first_use_days: input.expiresAt === undefined && policy?.duration_days && policy.expiry_basis === 'first-use' ? policy.duration_days : null,
      policy_id: policy?.id ?? null,
      max_machines: input.maxMachines ?? null,
      entitlements: JSON.stringify(uniqueCodes(input.entitlements ?? [])),
      max_uses: input.maxUses ?? null,
      note: note(input.note),
      created_at: now,
      updated_at: now,
    };
    let license: LicenseJson;
    try {
      license = await this.repos.transactions.change('licenses', async (t) => {
        const id = await t.licenses.insert(row, productIds);
        const created = licenseJson(await found(t, id));
        await t.audit.insert({ actor, action: 'license.created', targetType: 'license', targetId: id, after: created }, now);
        await this.queue(t, { type: 'license.created', time: now, license: created });
        return created;
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new KeywardError('key_exists', 'a license with this key already exists');
      throw err;
    }
    return { ...license, key };
  }

  /**
   * Finds licenses, oldest first, a page at a time: pass the returned `nextCursor` as `cursor`
   * for the next page (null when there is none).
   */
  async search(search: LicenseSearch): Promise<Page<LicenseJson>> {
    const filter = checkInput(LicenseSearchInput, search);
    const limit = pageSize(filter.limit);
    let ownerId = filter.ownerId;
    // An unknown owner matches nothing, answered as for an owner without licenses (the same
    // query runs), so a search never tells a caller which usernames exist.
    if (filter.owner !== undefined && filter.owner !== '') ownerId = (await this.repos.users.findByUsername(filter.owner))?.id ?? NO_USER_ID;
    const rows = await this.repos.licenses.list({
      productId: filter.productId,
      ownerId,
      keyDigest: filter.key ? digestKey(filter.key.trim()) : undefined,
      ip: filter.ip,
      status: filter.status,
      afterId: decodeCursor('licenses', filter.cursor),
      limit: limit + 1,
    });
    return pageOf(rows.map(licenseJson), limit, 'licenses');
  }

  async list(filter: LicenseSearch): Promise<LicenseJson[]> {
    return (await this.search(filter)).items;
  }

  /**
   * Disables (or re-enables) several licenses, all or nothing: when any id names no license, nothing
   * changes and the error names every such id. The changes and their audit entries commit together.
   * Returns the ids changed (those already in that state are left alone).
   */
  async setDisabled(ids: readonly number[], disabled: boolean, actor: string): Promise<number[]> {
    // In id order: two bulk changes locking overlapping licenses then wait for each other, never deadlock.
    const unique = [...new Set(ids)].sort((a, b) => a - b);
    const invalid = unique.filter((id) => !isDbId(id));
    if (invalid.length) throw notFoundMany(invalid);
    const changed = await this.repos.transactions.change('licenses', async (t) => {
      const missing: number[] = [];
      for (const id of unique) if (!(await t.licenses.lock(id))) missing.push(id);
      if (missing.length) throw notFoundMany(missing);
      const now = Date.now();
      const out: { before: LicenseJson; after: LicenseJson }[] = [];
      for (const id of unique) {
        const before = licenseJson(await found(t, id));
        if (before.disabled === disabled) continue;
        await t.licenses.update(id, { disabled: disabled ? 1 : 0, updated_at: now });
        const after = licenseJson(await found(t, id));
        await t.audit.insert({ actor, action: 'license.updated', targetType: 'license', targetId: id, before, after }, now);
        out.push({ before, after });
      }
      await this.queue(t, ...out.map(({ before, after }): LicenseEvent => ({ type: 'license.updated', time: now, license: after, previous: before })));
      return out;
    });
    return changed.map((c) => c.after.id);
  }

  /** How many licenses there are, in all and in each state (licenseState's rule: an expired license is not active). */
  async counts(now = Date.now()): Promise<{ total: number } & Record<LicenseState, number>> {
    return this.repos.licenses.count(now);
  }

  /** The owner's user id (null for none), for authorising owner-only actions. */
  async ownerOf(id: number): Promise<number | null> {
    return (await this.record(id)).owner_id;
  }

  async show(id: number): Promise<LicenseJson> {
    return licenseJson(await this.record(id));
  }

  /**
   * The clear key (decrypted from the stored ciphertext), for its owner or for staff. Every reveal is
   * an audited action (`license.key_revealed`, naming the owner at the time), so a key read by
   * anyone, however they came to see the license, is on the license's record. A customer asking for
   * a license that is not theirs gets `license_not_found`, as for one that does not exist.
   */
  async reveal(id: number, viewer: KeyViewer, actor: string): Promise<string> {
    const record = await this.record(id);
    if (viewer.role === 'customer' && record.owner_id !== viewer.userId) throw notFound(id);
    const key = this.cipher.decrypt(record.key_cipher);
    await this.repos.audit.insert({ actor, action: 'license.key_revealed', targetType: 'license', targetId: id, after: { owner: record.ownerUsername } });
    return key;
  }

  /**
   * Changes a license; only the fields given change. `caller` decides what may change: staff
   * anything; a customer only their own license's `ips` (within the customer allow-list rules and
   * the daily allowance) and `active`.
   */
  async update(id: number, args: LicenseUpdateArgs, actor: string, caller: LicenseCaller = STAFF): Promise<LicenseJson> {
    const customer = caller.role === 'customer';
    if (customer) {
      const other = (Object.keys(args) as (keyof LicenseUpdate)[]).filter((k) => args[k] !== undefined && !CUSTOMER_FIELDS.includes(k));
      if (other.length) throw new KeywardError('forbidden', `only staff may change ${other.join(', ')}`);
    }
    const input = checkInput(LicenseUpdateInput, { ...args, ips: listOf(args.ips) });
    const now = Date.now();
    const patch: Updateable<LicensesTable> = { updated_at: now };
    if (input.active !== undefined) patch.active = input.active ? 1 : 0;
    if (input.disabled !== undefined) patch.disabled = input.disabled ? 1 : 0;
    if (input.ipLocked !== undefined) patch.ip_locked = input.ipLocked ? 1 : 0;
    const ips = input.ips === undefined ? undefined : allowList(input.ips);
    if (ips !== undefined) {
      const problem = customer ? customerAllowListProblem(ips) : null;
      if (problem) throw new KeywardError('invalid_input', problem);
      patch.ips = JSON.stringify(ips);
    }
    if (input.expiresAt !== undefined) {
      patch.expires_at = expiry(input.expiresAt);
      // Staff set the expiry themselves: a first-use clock still waiting no longer applies.
      patch.first_use_days = null;
    }
    if (input.policyId !== undefined) patch.policy_id = input.policyId === null ? null : (await this.policy(input.policyId)).id;
    if (input.maxMachines !== undefined) patch.max_machines = input.maxMachines;
    if (input.entitlements !== undefined) patch.entitlements = JSON.stringify(uniqueCodes(input.entitlements));
    if (input.maxUses !== undefined) patch.max_uses = input.maxUses;
    if (input.note !== undefined) patch.note = note(input.note);
    if (input.owner !== undefined) patch.owner_id = await this.ownerId(input.owner);
    const productIds = input.productIds && (await this.checkProducts(input.productIds));
    if (!isDbId(id)) throw notFound(id);
    return this.repos.transactions.change('licenses', async (t) => {
      // Locked first: the allowance below is counted and used in one step.
      if (!(await t.licenses.lock(id))) throw notFound(id);
      const record = await found(t, id);
      if (customer && record.owner_id !== caller.userId) throw notFound(id);
      const before = licenseJson(record);
      if (customer && ips !== undefined && !sameList(before.ips, ips)) await this.spendIpChange(t, id, actor, now);
      await t.licenses.update(id, patch, productIds);
      const after = licenseJson(await found(t, id));
      await t.audit.insert({ actor, action: 'license.updated', targetType: 'license', targetId: id, before, after }, now);
      await this.queue(t, { type: 'license.updated', time: now, license: after, previous: before });
      return after;
    });
  }

  /** How many of the day's allowed-IP changes this customer has left on this license. */
  async ipChangesLeft(id: number, actor: string): Promise<{ left: number; perDay: number }> {
    const perDay = this.ipChangesPerDay();
    const used = await ipChangesSince(this.repos.audit, id, actor, Date.now() - DAY_MS);
    return { left: Math.max(0, perDay - used), perDay };
  }

  async regenerate(id: number, actor: string): Promise<LicenseJson & { key: string }> {
    await this.record(id);
    const key = generateKey();
    const license = await this.repos.transactions.change('licenses', async (t) => {
      const now = Date.now();
      if (!(await t.licenses.lock(id))) throw notFound(id);
      // A new key starts with no machines: whoever held the old one loses its slots (no allowance spent).
      const freed = await freeAllMachines(t, await found(t, id), actor, now);
      await t.licenses.update(id, { key_digest: digestKey(key), key_cipher: this.cipher.encrypt(key), updated_at: now });
      const changed = licenseJson(await found(t, id));
      await t.audit.insert({ actor, action: 'license.regenerated', targetType: 'license', targetId: id }, now);
      await this.queue(t, { type: 'license.regenerated', time: now, license: changed });
      if (freed.length) {
        await this.outbox?.queueIn(t, freed);
        t.alsoAnnounce('machines');
      }
      return changed;
    });
    return { ...license, key };
  }

  async delete(id: number, actor: string): Promise<void> {
    if (!isDbId(id)) throw notFound(id);
    await this.repos.transactions.change('licenses', async (t) => {
      if (!(await t.licenses.lock(id))) throw notFound(id);
      const record = await found(t, id);
      await t.licenses.delete(id);
      const gone = licenseJson(record);
      const now = Date.now();
      await t.audit.insert({ actor, action: 'license.deleted', targetType: 'license', targetId: id, before: gone }, now);
      await this.queue(t, { type: 'license.deleted', time: now, license: gone });
    });
  }

  /** Refuses a customer's allowed-IP change beyond the day's allowance (run with the license locked). */
  private async spendIpChange(t: TransactionRepos, id: number, actor: string, now: number): Promise<void> {
    const perDay = this.ipChangesPerDay();
    if (perDay === 0) throw new KeywardError('forbidden', 'Allowed IPs can only be changed by staff.');
    if ((await ipChangesSince(t.audit, id, actor, now - DAY_MS)) >= perDay) {
      throw new KeywardError('rate_limited', `You can change the allowed IPs ${perDay} time(s) a day; try again tomorrow.`);
    }
  }

  private ipChangesPerDay(): number {
    return this.options.ipChangesPerDay ?? 5;
  }

  /** In the change's transaction: a delivery that cannot be queued fails the change, so none is lost. */
  private async queue(t: TransactionRepos, ...events: LicenseEvent[]): Promise<void> {
    if (events.length) await this.outbox?.queue(t, events);
  }

  private async record(id: number): Promise<LicenseRecord> {
    if (!isDbId(id)) throw notFound(id);
    return found(this.repos, id);
  }

  private async policy(id: number): Promise<PolicyRecord> {
    const policy = await this.repos.policies.get(id);
    if (!policy) throw new KeywardError('policy_not_found', `policy ${id} does not exist`);
    return policy;
  }

  private async checkProducts(ids: readonly number[]): Promise<number[]> {
    if (ids.length === 0) throw new KeywardError('invalid_input', 'a license must grant at least one product');
    return existingProducts(this.repos.products, ids);
  }

  private async ownerId(username: string | null | undefined): Promise<number | null> {
    if (username === undefined || username === null || username === '') return null;
    const user = await this.repos.users.findByUsername(username);
    if (!user) throw new KeywardError('user_not_found', `user ${quote(username)} does not exist`);
    return user.id;
  }
}

/** No user has this id (ids start at 1). */
const NO_USER_ID = 0;

const notFound = (id: number) => new KeywardError('license_not_found', `license ${id} does not exist`);

function notFoundMany(ids: readonly number[]): KeywardError {
  const named = ids.slice(0, 10).map((id) => (isDbId(id) ? String(id) : quote(String(id))));
  const more = ids.length > 10 ? ` and ${ids.length - 10} more` : '';
  return new KeywardError(
    'license_not_found',
    `${ids.length === 1 ? `license ${named[0]} does not exist` : `licenses ${named.join(', ')}${more} do not exist`}; nothing was changed`,
    { ids: ids.slice(0, 100) },
  );
}

/** The license as these repositories see it (inside a transaction: as locked or written there). */
async function found(repos: { licenses: Pick<LicenseRepository, 'get'> }, id: number): Promise<LicenseRecord> {
  const record = await repos.licenses.get(id);
  if (!record) throw notFound(id);
  return record;
}

const sameList = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? []) === JSON.stringify(b ?? []);

/**
 * How many times this actor changed the license's allowed IPs since `since`, read from the audit
 * log (every change is audited with before/after), so no extra bookkeeping is needed.
 */
async function ipChangesSince(audit: AuditRepository, licenseId: number, actor: string, since: number): Promise<number> {
  const rows = await audit.list({ actor, action: 'license.updated', targetType: 'license', targetId: String(licenseId), from: since, limit: 1000 });
  return rows.map(auditJson).filter((e) => !sameList((e.before as { ips?: unknown } | null)?.ips, (e.after as { ips?: unknown } | null)?.ips)).length;
}

function allowList(ips: string | readonly string[]): string[] {
  try {
    return normalizeAllowList(ips);
  } catch (err) {
    throw new KeywardError('invalid_input', `invalid IP allow-list: ${(err as Error).message}`);
  }
}

function expiry(value: string | null | undefined): number | null {
  if (value === undefined || value === null || value === '' || value === 'never') return null;
  return parseIsoTime(value);
}

/** The note as stored: its length was checked with the input; empty means none. */
const note = (value: string | null | undefined): string | null => value || null;

/** Comma-separated allow-list text (CLI, imports) as a list, so it is checked like one. */
const listOf = (ips: string | readonly string[] | undefined): string[] | undefined =>
  ips === undefined ? undefined : typeof ips === 'string' ? ips.split(',').map((s) => s.trim()).filter(Boolean) : [...ips];
