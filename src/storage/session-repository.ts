import { sql, type Insertable, type Kysely } from 'kysely';
import type { Dialect } from './migrations/helpers.js';
import type { Database, SessionRow, SessionsTable, UserRow } from './schema.js';

export interface ScopeCount {
  count: number;
  /** The oldest counted attempt's time. */
  oldest: number;
}

/** Thrown inside a reservation's transaction to roll it back. */
class Refused extends Error {
  constructor(readonly counts: Map<string, ScopeCount>) {
    super('sign-in attempt refused');
  }
}

export interface SessionWithUser {
  session: SessionRow;
  user: UserRow;
}

/** Dashboard sessions (looked up by token hash) and the counted sign-in attempts that throttle guessing. */
export class SessionRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

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

  /** Records one counted attempt per scope (a failure, a sign-up); returns the rows' ids. */
  async addFailures(scopes: readonly string[], time: number): Promise<number[]> {
    return addRows(this.db, scopes, time);
  }

  /**
   * Records one attempt per scope only if `admit` accepts the counts since `since` with it included;
   * atomic against every other reservation on the same scopes, on every instance: SQLite runs it
   * under the database's write lock (the insert comes first), PostgreSQL under a transaction-scoped
   * advisory lock per scope. Returns the rows' ids, or the counts that were refused (nothing kept).
   */
  async reserve(
    scopes: readonly string[],
    time: number,
    since: number,
    admit: (counts: Map<string, ScopeCount>) => boolean,
  ): Promise<{ ids: number[] } | { refused: Map<string, ScopeCount> }> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        if (this.dialect === 'postgres') {
          // One order for every caller, so two reservations never wait on each other's locks.
          for (const scope of [...new Set(scopes)].sort()) {
            await sql`select pg_advisory_xact_lock(hashtextextended(${scope}, 0))`.execute(trx);
          }
        }
        const ids = await addRows(trx, scopes, time);
        const counts = await countRows(trx, scopes, since);
        if (!admit(counts)) throw new Refused(counts);
        return { ids };
      });
    } catch (err) {
      if (err instanceof Refused) return { refused: err.counts };
      throw err;
    }
  }

  /** Removes attempts by id (attempts that succeeded or tested nothing). */
  async removeFailures(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.deleteFrom('sign_in_failures').where('id', 'in', ids).execute();
  }

  async clearFailures(scope: string): Promise<void> {
    await this.db.deleteFrom('sign_in_failures').where('scope', '=', scope).execute();
  }

  async pruneFailures(before: number): Promise<void> {
    await this.db.deleteFrom('sign_in_failures').where('time', '<', before).execute();
  }
}

async function addRows(db: Kysely<Database>, scopes: readonly string[], time: number): Promise<number[]> {
  if (scopes.length === 0) return [];
  const rows = await db
    .insertInto('sign_in_failures')
    .values(scopes.map((scope) => ({ scope, time })))
    .returning('id')
    .execute();
  return rows.map((r) => Number(r.id));
}

/** Attempts per scope since `since`, for the scopes asked (absent scopes have none). */
async function countRows(db: Kysely<Database>, scopes: readonly string[], since: number): Promise<Map<string, ScopeCount>> {
  const map = new Map<string, ScopeCount>();
  if (scopes.length === 0) return map;
  const rows = await db
    .selectFrom('sign_in_failures')
    .select((eb) => ['scope', eb.fn.countAll<number>().as('n'), eb.fn.min('time').as('oldest')])
    .where('scope', 'in', scopes)
    .where('time', '>=', since)
    .groupBy('scope')
    .execute();
  for (const r of rows) map.set(r.scope, { count: Number(r.n), oldest: Number(r.oldest) });
  return map;
}
