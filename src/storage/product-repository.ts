import type { Kysely } from 'kysely';
import type { Database, ProductRow } from './schema.js';
import { lockRow } from './row-lock.js';

export class ProductRepository {
  constructor(private readonly db: Kysely<Database>) {}

  list(): Promise<ProductRow[]> {
    return this.db.selectFrom('products').selectAll().orderBy('id').execute();
  }

  async ids(): Promise<number[]> {
    const rows = await this.db.selectFrom('products').select('id').execute();
    return rows.map((r) => r.id);
  }

  get(id: number): Promise<ProductRow | undefined> {
    return this.db.selectFrom('products').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async nextId(): Promise<number> {
    const row = await this.db
      .selectFrom('products')
      .select((eb) => eb.fn.max('id').as('max'))
      .executeTakeFirst();
    return Number(row?.max ?? 0) + 1;
  }

  async insert(row: ProductRow): Promise<void> {
    await this.db.insertInto('products').values(row).execute();
  }

  /** Inserts products whose id is not taken yet (bulk imports); returns the ids added. */
  async insertMissing(rows: readonly ProductRow[]): Promise<number[]> {
    if (rows.length === 0) return [];
    const added = await this.db
      .insertInto('products')
      .values([...rows])
      .onConflict((oc) => oc.column('id').doNothing())
      .returning('id')
      .execute();
    return added.map((r) => r.id);
  }

  /**
   * Locks the product's row until the surrounding transaction ends (a no-op update: `lockRow`).
   * False when there is no such product.
   */
  async lock(id: number): Promise<boolean> {
    return lockRow(this.db, 'products', id);
  }

  async update(id: number, patch: { name?: string; description?: string | null; updated_at: number }): Promise<void> {
    await this.db.updateTable('products').set(patch).where('id', '=', id).execute();
  }

  async delete(id: number): Promise<boolean> {
    const result = await this.db.deleteFrom('products').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
