import type { Kysely } from 'kysely';
import type { Database, SigningKeyRow } from './schema.js';

export class SigningKeyRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Every key, the current one (newest not retired) first. */
  list(): Promise<SigningKeyRow[]> {
    return this.db
      .selectFrom('signing_keys')
      .selectAll()
      .orderBy('retired_at', (ob) => ob.desc().nullsFirst())
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .execute();
  }

  async insert(row: SigningKeyRow): Promise<void> {
    await this.db.insertInto('signing_keys').values(row).execute();
  }

  /** Retires every current key but `keepId`; retired keys stay listed so older answers still verify. */
  async retireAllBut(keepId: string, now: number): Promise<void> {
    await this.db.updateTable('signing_keys').set({ retired_at: now }).where('retired_at', 'is', null).where('id', '!=', keepId).execute();
  }
}
