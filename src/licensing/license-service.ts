import { KeywardError } from '../errors.js';
import type { AuditRepository } from '../storage/audit-repository.js';
import { isUniqueViolation } from '../storage/database.js';
import type { ChangeFeed } from '../storage/change-feed.js';
import type { LicenseRecord, LicenseRepository, LicenseStatus } from '../storage/license-repository.js';
import type { ProductRepository } from '../storage/product-repository.js';
import type { UserRepository } from '../storage/user-repository.js';
import type { LicensesTable } from '../storage/schema.js';
import type { Updateable } from 'kysely';
import { normalizeAllowList } from './ip-allow-list.js';
import { licenseJson, type LicenseJson } from './json.js';
import type { LicenseEvent, LicenseEventSink } from './license-events.js';
import { checkKeyFormat, digestKey, generateKey, type KeyCipher } from './key.js';
import { isDbId, parseIsoTime, quote } from './values.js';

export interface LicenseCreate {
  productIds: readonly number[];
  owner?: string | null;
  ipLocked?: boolean;
  ips?: string | readonly string[];
  /** ISO 8601 time, or null for no expiry. */
  expiresAt?: string | null;
  note?: string | null;
  /** An existing key to keep (imports); a new one is generated when absent. */
  key?: string;
}

export interface LicenseSearch {
  productId?: number;
  /** Owner by username (an unknown one matches nothing) or by id. */
  owner?: string;
  ownerId?: number;
  /** An exact clear key. */
  key?: string;
  ip?: string;
  status?: LicenseStatus;
  limit?: number;
  cursor?: string;
}

export interface LicenseUpdate {
  productIds?: readonly number[];
  owner?: string | null;
  active?: boolean;
  disabled?: boolean;
  ipLocked?: boolean;
  ips?: string | readonly string[];
  expiresAt?: string | null;
  note?: string | null;
}

const NOTE_MAX = 1000;

/** Issuing and changing licenses: validation, key handling, audit trail and change announcements. */
export class LicenseService {
  constructor(
    private readonly repos: {
      licenses: LicenseRepository;
      products: ProductRepository;
      users: UserRepository;
      audit: AuditRepository;
    },
    private readonly cipher: KeyCipher,
    private readonly changes: ChangeFeed,
    /** Told about every committed change (license.created/updated/deleted/regenerated), e.g. for webhooks. */
    private readonly events?: LicenseEventSink,
  ) {}

  async create(input: LicenseCreate, actor: string): Promise<LicenseJson & { key: string }> {
    const productIds = await this.checkProducts(input.productIds);
    const key = input.key ?? generateKey();
    const keyProblem = checkKeyFormat(key);
    if (keyProblem) throw new KeywardError('invalid_input', keyProblem);
    const digest = digestKey(key);
    if (await this.repos.licenses.findByDigest(digest)) throw new KeywardError('key_exists', 'a license with this key already exists');
    const now = Date.now();
    let id: number;
    try {
      id = await this.repos.licenses.insert(
        {
          key_digest: digest,
          key_cipher: this.cipher.encrypt(key),
          owner_id: await this.ownerId(input.owner),
          active: 1,
          disabled: 0,
          ip_locked: input.ipLocked ? 1 : 0,
          ips: JSON.stringify(allowList(input.ips ?? [])),
          expires_at: expiry(input.expiresAt),
          note: note(input.note),
          created_at: now,
          updated_at: now,
        },
        productIds,
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw new KeywardError('key_exists', 'a license with this key already exists');
      throw err;
    }
    const license = await this.show(id);
    await this.repos.audit.insert({ actor, action: 'license.created', targetType: 'license', targetId: id, after: license }, now);
    await this.changes.announce();
    await this.publish({ type: 'license.created', time: now, license });
    return { ...license, key };
  }

  /**
   * Finds licenses, oldest first, a page at a time: pass the returned `nextCursor` as `cursor`
   * for the next page (null when there is none).
   */
  async search(filter: LicenseSearch): Promise<{ items: LicenseJson[]; nextCursor: string | null }> {
    const limit = Math.min(Math.max(filter.limit ?? 100, 1), 10_000);
    let ownerId = filter.ownerId;
    // An unknown owner matches nothing, answered as for an owner without licenses (the same
    // query runs), so a search never tells a caller which usernames exist.
    if (filter.owner !== undefined && filter.owner !== '') ownerId = (await this.repos.users.findByUsername(filter.owner))?.id ?? NO_USER_ID;
    const afterId = filter.cursor ? decodeCursor(filter.cursor) : undefined;
    const rows = await this.repos.licenses.list({
      productId: filter.productId,
      ownerId,
      keyDigest: filter.key ? digestKey(filter.key.trim()) : undefined,
      ip: filter.ip,
      status: filter.status,
      afterId,
      limit: limit + 1,
    });
    const items = rows.slice(0, limit).map(licenseJson);
    return { items, nextCursor: rows.length > limit ? encodeCursor(items[items.length - 1]!.id) : null };
  }

  async list(filter: LicenseSearch): Promise<LicenseJson[]> {
    return (await this.search(filter)).items;
  }

  /** Disables (or re-enables) several licenses; each change is audited. Returns the ids changed. */
  async setDisabled(ids: readonly number[], disabled: boolean, actor: string): Promise<number[]> {
    const changed: number[] = [];
    for (const id of new Set(ids)) {
      const before = licenseJson(await this.record(id));
      if (before.disabled === disabled) continue;
      await this.repos.licenses.update(id, { disabled: disabled ? 1 : 0, updated_at: Date.now() });
      const after = await this.show(id);
      await this.repos.audit.insert({ actor, action: 'license.updated', targetType: 'license', targetId: id, before, after });
      await this.publish({ type: 'license.updated', time: Date.now(), license: after, previous: before });
      changed.push(id);
    }
    if (changed.length) await this.changes.announce();
    return changed;
  }

  /** How many licenses there are, and how many are active (not disabled, not switched off) or disabled. */
  async counts(): Promise<{ total: number; active: number; disabled: number }> {
    return this.repos.licenses.count();
  }

  /** The owner's user id (null for none), for authorising owner-only actions. */
  async ownerOf(id: number): Promise<number | null> {
    return (await this.record(id)).owner_id;
  }

  async show(id: number): Promise<LicenseJson> {
    return licenseJson(await this.record(id));
  }

  /** The clear key, for its owner's eyes (decrypted from the stored ciphertext). */
  async reveal(id: number): Promise<string> {
    return this.cipher.decrypt((await this.record(id)).key_cipher);
  }

  async update(id: number, input: LicenseUpdate, actor: string): Promise<LicenseJson> {
    const before = licenseJson(await this.record(id));
    const patch: Updateable<LicensesTable> = { updated_at: Date.now() };
    if (input.active !== undefined) patch.active = input.active ? 1 : 0;
    if (input.disabled !== undefined) patch.disabled = input.disabled ? 1 : 0;
    if (input.ipLocked !== undefined) patch.ip_locked = input.ipLocked ? 1 : 0;
    if (input.ips !== undefined) patch.ips = JSON.stringify(allowList(input.ips));
    if (input.expiresAt !== undefined) patch.expires_at = expiry(input.expiresAt);
    if (input.note !== undefined) patch.note = note(input.note);
    if (input.owner !== undefined) patch.owner_id = await this.ownerId(input.owner);
    const productIds = input.productIds && (await this.checkProducts(input.productIds));
    await this.repos.licenses.update(id, patch, productIds);
    const after = await this.show(id);
    await this.repos.audit.insert({ actor, action: 'license.updated', targetType: 'license', targetId: id, before, after });
    await this.changes.announce();
    await this.publish({ type: 'license.updated', time: Date.now(), license: after, previous: before });
    return after;
  }

  async regenerate(id: number, actor: string): Promise<LicenseJson & { key: string }> {
    await this.record(id);
    const key = generateKey();
    await this.repos.licenses.update(id, { key_digest: digestKey(key), key_cipher: this.cipher.encrypt(key), updated_at: Date.now() });
    const license = await this.show(id);
    await this.repos.audit.insert({ actor, action: 'license.regenerated', targetType: 'license', targetId: id });
    await this.changes.announce();
    await this.publish({ type: 'license.regenerated', time: Date.now(), license });
    return { ...license, key };
  }

  async delete(id: number, actor: string): Promise<void> {
    const before = licenseJson(await this.record(id));
    if (!(await this.repos.licenses.delete(id))) throw notFound(id);
    await this.repos.audit.insert({ actor, action: 'license.deleted', targetType: 'license', targetId: id, before });
    await this.changes.announce();
    await this.publish({ type: 'license.deleted', time: Date.now(), license: before });
  }

  /** The change is committed: a failing listener must not turn it into an error. */
  private async publish(event: LicenseEvent): Promise<void> {
    await this.events?.publish(event).catch(() => {});
  }

  private async record(id: number): Promise<LicenseRecord> {
    const record = isDbId(id) ? await this.repos.licenses.get(id) : null;
    if (!record) throw notFound(id);
    return record;
  }

  private async checkProducts(ids: readonly number[]): Promise<number[]> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) throw new KeywardError('invalid_input', 'a license must grant at least one product');
    const known = new Set(await this.repos.products.ids());
    for (const id of unique) {
      if (!known.has(id)) throw new KeywardError('product_not_found', `product ${id} does not exist`);
    }
    return unique;
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

function note(value: string | null | undefined): string | null {
  if (!value) return null;
  if (value.length > NOTE_MAX) throw new KeywardError('invalid_input', `a note is at most ${NOTE_MAX} characters`);
  return value;
}

/** Opaque page cursors: callers must not build them, so their shape can change. */
const encodeCursor = (id: number): string => Buffer.from(`l:${id}`).toString('base64url');

function decodeCursor(cursor: string): number {
  const m = /^l:(\d{1,10})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new KeywardError('invalid_input', 'invalid cursor');
  return Number(m[1]);
}
