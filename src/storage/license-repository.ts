import { sql, type Insertable, type Kysely, type Transaction, type Updateable } from 'kysely';
import { LICENSE_STATES, type LicenseState } from '../licensing/license-state.js';
import type { Database, LicenseRow, LicensesTable } from './schema.js';
import { lockRow } from './row-lock.js';

export interface LicenseRecord extends LicenseRow {
  productIds: number[];
  ownerUsername: string | null;
}

/** Rows per multi-row statement in bulk work: 14 columns × 1000 stay below SQLite's (32766) and PostgreSQL's (65535) parameter limits. */
const BULK_CHUNK = 1000;

export interface LicenseFilter {
  productId?: number;
  ownerId?: number;
  /** The SHA-256 digest of an exact key. */
  keyDigest?: string;
  /** Matches an allowed IP/CIDR entry or the last caller IP (substring). */
  ip?: string;
  status?: LicenseState;
  /** Only licenses with an id greater than this (cursor pagination, ascending ids). */
  afterId?: number;
  limit: number;
  /** The time the status is decided at; defaults to now. */
  now?: number;
}

export class LicenseRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** The hot-path read: the license with this key digest and the products it grants, in order. */
  async findByDigest(digest: string): Promise<(LicenseRow & { productIds: number[] }) | null> {
    const row = await this.db.selectFrom('licenses').selectAll().where('key_digest', '=', digest).executeTakeFirst();
    if (!row) return null;
    return { ...row, productIds: await this.productIdsOf(row.id) };
  }

  async get(id: number): Promise<LicenseRecord | null> {
    const row = await this.db
      .selectFrom('licenses')
      .leftJoin('users', 'users.id', 'licenses.owner_id')
      .selectAll('licenses')
      .select('users.username as ownerUsername')
      .where('licenses.id', '=', id)
      .executeTakeFirst();
    if (!row) return null;
    return { ...row, productIds: await this.productIdsOf(id) };
  }

  async list(filter: LicenseFilter): Promise<LicenseRecord[]> {
    const now = filter.now ?? Date.now();
    let q = this.db
      .selectFrom('licenses')
      .leftJoin('users', 'users.id', 'licenses.owner_id')
      .selectAll('licenses')
      .select('users.username as ownerUsername');
    if (filter.ownerId !== undefined) q = q.where('licenses.owner_id', '=', filter.ownerId);
    if (filter.keyDigest !== undefined) q = q.where('licenses.key_digest', '=', filter.keyDigest);
    if (filter.afterId !== undefined) q = q.where('licenses.id', '>', filter.afterId);
    if (filter.ip !== undefined && filter.ip !== '') {
      const pattern = `%${filter.ip.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      q = q.where((eb) =>
        eb.or([
          eb('licenses.ips', 'like', sql<string>`${pattern} escape '\\'`),
          eb('licenses.last_ip', 'like', sql<string>`${pattern} escape '\\'`),
        ]),
      );
    }
    if (filter.productId !== undefined) {
      const productId = filter.productId;
      q = q.where('licenses.id', 'in', (eb) =>
        eb.selectFrom('license_products').select('license_id').where('product_id', '=', productId),
      );
    }
    if (filter.status !== undefined) q = q.where(stateOf(now), '=', filter.status);
    const rows = await q.orderBy('licenses.id').limit(filter.limit).execute();
    const products = await this.productIdsOfMany(rows.map((r) => r.id));
    return rows.map((r) => ({ ...r, productIds: products.get(r.id) ?? [] }));
  }

  /** How many licenses there are, in all and in each state at `now`. */
  async count(now = Date.now()): Promise<{ total: number } & Record<LicenseState, number>> {
    const rows = await this.db
      .selectFrom('licenses')
      .select((eb) => [stateOf(now).as('state'), eb.fn.countAll<number>().as('n')])
      .groupBy('state')
      .execute();
    const counts = { total: 0, ...Object.fromEntries(LICENSE_STATES.map((s) => [s, 0])) } as { total: number } & Record<LicenseState, number>;
    for (const r of rows) {
      counts[r.state] = Number(r.n);
      counts.total += Number(r.n);
    }
    return counts;
  }

  async insert(row: Insertable<LicensesTable>, productIds: readonly number[]): Promise<number> {
    return this.atomically(async (trx) => {
      const { id } = await trx.insertInto('licenses').values(row).returning('id').executeTakeFirstOrThrow();
      await trx
        .insertInto('license_products')
        .values(productIds.map((productId, position) => ({ license_id: id, product_id: productId, position })))
        .execute();
      return id;
    });
  }

  async update(id: number, patch: Updateable<LicensesTable>, productIds?: readonly number[]): Promise<void> {
    await this.atomically(async (trx) => {
      await trx.updateTable('licenses').set(patch).where('id', '=', id).execute();
      if (productIds) {
        await trx.deleteFrom('license_products').where('license_id', '=', id).execute();
        await trx
          .insertInto('license_products')
          .values(productIds.map((productId, position) => ({ license_id: id, product_id: productId, position })))
          .execute();
      }
    });
  }

  /**
   * Locks the license's row until the surrounding transaction ends (a no-op update: PostgreSQL
   * takes the row lock, SQLite its write lock), so a read-decide-write in that transaction is not
   * raced by another one on the same license. False when there is no such license.
   */
  async lock(id: number): Promise<boolean> {
    return lockRow(this.db, 'licenses', id);
  }

  /** Which of these key digests already belong to a license (imports use it to stay idempotent). */
  async existingDigests(digests: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < digests.length; i += BULK_CHUNK) {
      const rows = await this.db
        .selectFrom('licenses')
        .select('key_digest')
        .where('key_digest', 'in', digests.slice(i, i + BULK_CHUNK))
        .execute();
      for (const r of rows) found.add(r.key_digest);
    }
    return found;
  }

  /**
   * Inserts many licenses (and the products each grants) in one transaction. A license whose key
   * digest is already stored is left alone, so a repeated import adds nothing. Returns how many were added.
   */
  async insertMany(items: readonly { row: Insertable<LicensesTable>; productIds: readonly number[] }[]): Promise<number> {
    if (items.length === 0) return 0;
    return this.db.transaction().execute(async (trx) => {
      let added = 0;
      for (let i = 0; i < items.length; i += BULK_CHUNK) {
        const chunk = items.slice(i, i + BULK_CHUNK);
        const inserted = await trx
          .insertInto('licenses')
          .values(chunk.map((c) => c.row))
          .onConflict((oc) => oc.column('key_digest').doNothing())
          .returning(['id', 'key_digest'])
          .execute();
        const ids = new Map(inserted.map((r) => [r.key_digest, r.id]));
        const links = chunk.flatMap((c) => {
          const id = ids.get(c.row.key_digest);
          return id === undefined ? [] : c.productIds.map((productId, position) => ({ license_id: id, product_id: productId, position }));
        });
        for (let j = 0; j < links.length; j += BULK_CHUNK * 2) {
          await trx.insertInto('license_products').values(links.slice(j, j + BULK_CHUNK * 2)).execute();
        }
        added += inserted.length;
      }
      return added;
    });
  }

  /** Binds the first caller's IP, only if the allow-list is still empty (another instance may have won). */
  async bindIp(id: number, ips: string, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('licenses')
      .set({ ips, updated_at: now })
      .where('id', '=', id)
      .where('ip_locked', '=', 1)
      .where('ips', '=', '[]')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /**
   * Adds `delta` to the usage counter in one statement, only if the result stays within 0 and the
   * limit (the license's own, else its policy's; none: no upper bound): atomic on both databases
   * and across instances, as concurrent updates of the row are serialised and each re-reads the
   * counter. Null when the license is gone or the change would leave those bounds.
   */
  async addUses(id: number, delta: number): Promise<{ uses: number; maxUses: number | null } | null> {
    const limit = usageLimit();
    const row = await this.db
      .updateTable('licenses')
      .set((eb) => ({ uses: eb('uses', '+', delta) }))
      .where('id', '=', id)
      .where((eb) => eb(eb('uses', '+', delta), '>=', 0))
      .where((eb) => eb.or([eb(limit, 'is', null), eb(eb('uses', '+', delta), '<=', limit)]))
      .returning(['uses', limit.as('max_uses')])
      .executeTakeFirst();
    return row ? { uses: Number(row.uses), maxUses: row.max_uses === null ? null : Number(row.max_uses) } : null;
  }

  /** Sets the usage counter (a reset), whatever the limit. False when the license is gone. */
  async setUses(id: number, uses: number): Promise<boolean> {
    const result = await this.db.updateTable('licenses').set({ uses }).where('id', '=', id).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** The usage counter and the limit in force (the license's own, else its policy's); null when the license is gone. */
  async usage(id: number): Promise<{ uses: number; maxUses: number | null } | null> {
    const row = await this.db.selectFrom('licenses').select(['uses', usageLimit().as('max_uses')]).where('id', '=', id).executeTakeFirst();
    return row ? { uses: Number(row.uses), maxUses: row.max_uses === null ? null : Number(row.max_uses) } : null;
  }

  async delete(id: number): Promise<boolean> {
    const result = await this.db.deleteFrom('licenses').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async countUsingProduct(productId: number): Promise<number> {
    const row = await this.db
      .selectFrom('license_products')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('product_id', '=', productId)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** Runs `work` in a transaction: this repository's own when it is bound to one already, else a new one. */
  private atomically<T>(work: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    return this.db.isTransaction ? work(this.db) : this.db.transaction().execute((trx: Transaction<Database>) => work(trx));
  }

  private async productIdsOf(licenseId: number): Promise<number[]> {
    const rows = await this.db
      .selectFrom('license_products')
      .select('product_id')
      .where('license_id', '=', licenseId)
      .orderBy('position')
      .execute();
    return rows.map((r) => r.product_id);
  }

  private async productIdsOfMany(ids: readonly number[]): Promise<Map<number, number[]>> {
    const map = new Map<number, number[]>();
    if (ids.length === 0) return map;
    const rows = await this.db
      .selectFrom('license_products')
      .select(['license_id', 'product_id'])
      .where('license_id', 'in', ids)
      .orderBy('license_id')
      .orderBy('position')
      .execute();
    for (const r of rows) {
      const list = map.get(r.license_id) ?? [];
      list.push(r.product_id);
      map.set(r.license_id, list);
    }
    return map;
  }
}

/** The stored allow-list (a JSON array of strings); anything else reads as empty. */
/** A license row's usage limit in force: its own, else its policy's (null: not metered). */
const usageLimit = () =>
  sql<number | null>`coalesce(${sql.ref('licenses.max_uses')}, (select p.max_uses from policies p where p.id = ${sql.ref('licenses.policy_id')}))`;

export function parseIps(text: string): string[] {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
  } catch {
    return [];
  }
}

/**
 * A license's state at `now` in SQL: licensing/license-state.ts's `licenseState` rule (disabled,
 * else inactive, else expired from the instant of expiry, else active), for filters and counts.
 */
export const stateOf = (now: number) =>
  sql<LicenseState>`case when licenses.disabled = 1 then 'disabled' when licenses.active = 0 then 'inactive' when licenses.expires_at is not null and licenses.expires_at <= ${now} then 'expired' else 'active' end`;
