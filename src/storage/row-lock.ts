import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/** The tables whose rows a read-decide-write change locks. */
export type LockableTable = 'licenses' | 'products' | 'webhook_endpoints' | 'policies';

/**
 * Locks one row until the surrounding transaction ends with a no-op update (PostgreSQL takes the
 * row lock, SQLite its write lock), so a read-decide-write in that transaction is not raced by
 * another one on the same row. False when there is no such row.
 */
export async function lockRow(db: Kysely<Database>, table: LockableTable, id: number): Promise<boolean> {
  // Every lockable table has an integer `id`; the statement is the same for each.
  const result = await db
    .updateTable(table as 'licenses')
    .set((eb) => ({ id: eb.ref('id') }))
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}
