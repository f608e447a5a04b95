import type { Insertable, Kysely, Updateable } from 'kysely';
import type { Database, PoliciesTable, PolicyRow } from './schema.js';
import { lockRow } from './row-lock.js';

export interface PolicyRecord extends PolicyRow {
  productIds: number[];
}

export class PolicyRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async list(): Promise<PolicyRecord[]> {
    const rows = await this.db.selectFrom('policies').selectAll().orderBy('id').execute();
    const products = await this.productIdsOf(rows.map((r) => r.id));
    return rows.map((r) => ({ ...r, productIds: products.get(r.id) ?? [] }));
  }

  async get(id: number): Promise<PolicyRecord | null> {
    const row = await this.db.selectFrom('policies').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return null;
    return { ...row, productIds: (await this.productIdsOf([id])).get(id) ?? [] };
  }

  async insert(row: Insertable<PoliciesTable>, productIds: readonly number[]): Promise<number> {
    const { id } = await this.db.insertInto('policies').values(row).returning('id').executeTakeFirstOrThrow();
    await this.setProducts(id, productIds);
    return id;
  }

  async update(id: number, patch: Updateable<PoliciesTable>, productIds?: readonly number[]): Promise<void> {
    await this.db.updateTable('policies').set(patch).where('id', '=', id).execute();
    if (productIds) {
      await this.db.deleteFrom('policy_products').where('policy_id', '=', id).execute();
      await this.setProducts(id, productIds);
    }
  }

  async delete(id: number): Promise<boolean> {
    const result = await this.db.deleteFrom('policies').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** Locks the policy's row until the surrounding transaction ends (`lockRow`); false when there is none. */
  lock(id: number): Promise<boolean> {
    return lockRow(this.db, 'policies', id);
  }

  /** How many licenses name this policy. */
  async countLicenses(id: number): Promise<number> {
    const row = await this.db
      .selectFrom('licenses')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('policy_id', '=', id)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** How many policies issue this product (a product they name cannot be deleted). */
  async countUsingProduct(productId: number): Promise<number> {
    const row = await this.db
      .selectFrom('policy_products')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('product_id', '=', productId)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  private async setProducts(id: number, productIds: readonly number[]): Promise<void> {
    await this.db
      .insertInto('policy_products')
      .values(productIds.map((productId, position) => ({ policy_id: id, product_id: productId, position })))
      .execute();
  }

  private async productIdsOf(ids: readonly number[]): Promise<Map<number, number[]>> {
    const map = new Map<number, number[]>();
    if (ids.length === 0) return map;
    const rows = await this.db
      .selectFrom('policy_products')
      .select(['policy_id', 'product_id'])
      .where('policy_id', 'in', ids)
      .orderBy('policy_id')
      .orderBy('position')
      .execute();
    for (const r of rows) {
      const list = map.get(r.policy_id) ?? [];
      list.push(r.product_id);
      map.set(r.policy_id, list);
    }
    return map;
  }
}
