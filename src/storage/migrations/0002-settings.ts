import type { Kysely } from 'kysely';

/** Server-wide settings, starting with the fingerprint of the server secret. */
export const settings = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('settings')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .execute();
  },
};
