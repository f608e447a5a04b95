import type { Kysely } from 'kysely';

/** Ed25519 keys that sign check answers; private keys are stored encrypted by the server secret. */
export const signingKeys = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('signing_keys')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('public_pem', 'text', (c) => c.notNull())
      .addColumn('private_cipher', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('retired_at', 'bigint')
      .execute();
  },
};
