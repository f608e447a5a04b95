import type { Insertable, Kysely } from 'kysely';
import type { ApiTokenRow, ApiTokensTable, Database } from './schema.js';

/** Management API tokens, looked up by the SHA-256 digest of the token. */
export class ApiTokenRepository {
  constructor(private readonly db: Kysely<Database>) {}

  insert(row: Insertable<ApiTokensTable>): Promise<ApiTokenRow> {
    return this.db.insertInto('api_tokens').values(row).returningAll().executeTakeFirstOrThrow();
  }

  findByDigest(digest: string): Promise<ApiTokenRow | undefined> {
    return this.db.selectFrom('api_tokens').selectAll().where('token_digest', '=', digest).executeTakeFirst();
  }

  get(id: number): Promise<ApiTokenRow | undefined> {
    return this.db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
  }

  list(includeRevoked: boolean): Promise<ApiTokenRow[]> {
    let q = this.db.selectFrom('api_tokens').selectAll();
    if (!includeRevoked) q = q.where('revoked_at', 'is', null);
    return q.orderBy('id').execute();
  }

  /** Revokes a token still in use; false when it is unknown or already revoked. */
  async revoke(id: number, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('api_tokens')
      .set({ revoked_at: now })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Records when tokens were last used; a time never moves backwards. */
  async touch(lastUsed: ReadonlyMap<number, number>): Promise<void> {
    if (lastUsed.size === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (const [id, time] of lastUsed) {
        await trx
          .updateTable('api_tokens')
          .set({ last_used_at: time })
          .where('id', '=', id)
          .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', time)]))
          .execute();
      }
    });
  }
}
