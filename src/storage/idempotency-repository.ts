import type { Kysely } from 'kysely';
import type { Database, IdempotencyKeyRow } from './schema.js';

/**
 * Idempotency-Key reservations. The primary key (token, key) makes the first INSERT win in
 * every process and on both dialects; everything else is a conditional UPDATE or DELETE.
 */
export class IdempotencyRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Inserts a `running` reservation; false when the key is already taken. */
  async reserve(tokenId: number, key: string, requestHash: string, now: number): Promise<boolean> {
    const result = await this.db
      .insertInto('idempotency_keys')
      .values({ token_id: tokenId, idem_key: key, request_hash: requestHash, state: 'running', status_code: null, response: null, created_at: now, updated_at: now })
      .onConflict((oc) => oc.columns(['token_id', 'idem_key']).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  get(tokenId: number, key: string): Promise<IdempotencyKeyRow | undefined> {
    return this.db
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('token_id', '=', tokenId)
      .where('idem_key', '=', key)
      .executeTakeFirst();
  }

  async complete(tokenId: number, key: string, statusCode: number, response: string, now: number): Promise<void> {
    await this.db
      .updateTable('idempotency_keys')
      .set({ state: 'done', status_code: statusCode, response, updated_at: now })
      .where('token_id', '=', tokenId)
      .where('idem_key', '=', key)
      .execute();
  }

  /** Drops a reservation whose request failed, so a retry can run it again. */
  async release(tokenId: number, key: string): Promise<void> {
    await this.db
      .deleteFrom('idempotency_keys')
      .where('token_id', '=', tokenId)
      .where('idem_key', '=', key)
      .where('state', '=', 'running')
      .execute();
  }

  /** Takes over a reservation abandoned by a crashed process; only one taker wins. */
  async takeOver(tokenId: number, key: string, seenUpdatedAt: number, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('idempotency_keys')
      .set({ updated_at: now })
      .where('token_id', '=', tokenId)
      .where('idem_key', '=', key)
      .where('state', '=', 'running')
      .where('updated_at', '=', seenUpdatedAt)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Deletes one expired reservation, only if it is still the one that was seen. */
  async deleteExpired(tokenId: number, key: string, seenCreatedAt: number): Promise<void> {
    await this.db
      .deleteFrom('idempotency_keys')
      .where('token_id', '=', tokenId)
      .where('idem_key', '=', key)
      .where('created_at', '=', seenCreatedAt)
      .execute();
  }

  async purge(createdBefore: number): Promise<number> {
    const result = await this.db.deleteFrom('idempotency_keys').where('created_at', '<', createdBefore).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
