import type { Insertable, Kysely } from 'kysely';
import type { Database, SessionRow, SessionsTable, UserRow } from './schema.js';

export interface SessionWithUser {
  session: SessionRow;
  user: UserRow;
}

/** Dashboard sessions (looked up by token hash) and the failed sign-ins that throttle guessing. */
export class SessionRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: Insertable<SessionsTable>): Promise<number> {
    const { id } = await this.db.insertInto('sessions').values(row).returning('id').executeTakeFirstOrThrow();
    return id;
  }

  /** The unexpired session with this token hash and its user. */
  async findByHash(tokenHash: string, now: number): Promise<SessionWithUser | null> {
    const session = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    if (!session) return null;
    const user = await this.db.selectFrom('users').selectAll().where('id', '=', session.user_id).executeTakeFirst();
    return user ? { session, user } : null;
  }

  async touch(id: number, lastSeenAt: number, expiresAt: number): Promise<void> {
    await this.db.updateTable('sessions').set({ last_seen_at: lastSeenAt, expires_at: expiresAt }).where('id', '=', id).execute();
  }

  listForUser(userId: number, now: number): Promise<SessionRow[]> {
    return this.db
      .selectFrom('sessions')
      .selectAll()
      .where('user_id', '=', userId)
      .where('expires_at', '>', now)
      .orderBy('last_seen_at', 'desc')
      .execute();
  }

  async delete(id: number): Promise<void> {
    await this.db.deleteFrom('sessions').where('id', '=', id).execute();
  }

  /** Ends every session of the user; returns how many there were. */
  async deleteForUser(userId: number): Promise<number> {
    const result = await this.db.deleteFrom('sessions').where('user_id', '=', userId).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async deleteExpired(now: number): Promise<void> {
    await this.db.deleteFrom('sessions').where('expires_at', '<=', now).execute();
  }

  async addFailures(scopes: readonly string[], time: number): Promise<void> {
    if (scopes.length === 0) return;
    await this.db
      .insertInto('sign_in_failures')
      .values(scopes.map((scope) => ({ scope, time })))
      .execute();
  }

  /** Failures per scope since `since`, for the scopes asked (absent scopes have none). */
  async countFailures(scopes: readonly string[], since: number): Promise<Map<string, { count: number; oldest: number }>> {
    const map = new Map<string, { count: number; oldest: number }>();
    if (scopes.length === 0) return map;
    const rows = await this.db
      .selectFrom('sign_in_failures')
      .select((eb) => ['scope', eb.fn.countAll<number>().as('n'), eb.fn.min('time').as('oldest')])
      .where('scope', 'in', scopes)
      .where('time', '>=', since)
      .groupBy('scope')
      .execute();
    for (const r of rows) map.set(r.scope, { count: Number(r.n), oldest: Number(r.oldest) });
    return map;
  }

  async clearFailures(scope: string): Promise<void> {
    await this.db.deleteFrom('sign_in_failures').where('scope', '=', scope).execute();
  }

  async pruneFailures(before: number): Promise<void> {
    await this.db.deleteFrom('sign_in_failures').where('time', '<', before).execute();
  }
}
