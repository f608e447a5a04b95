import { sql, type Kysely } from 'kysely';
import type { AuthLogDailyTable, Database } from './schema.js';

export const DAY_MS = 86_400_000;
/** 5 columns a row: 1000 rows stay far below both dialects' parameter limits. */
const UPSERT_CHUNK = 1000;

/** Which checks to count: one license, several licenses, one product, or (no filter) all. */
export interface CheckCountFilter {
  licenseIds?: readonly number[];
  productId?: number;
}

/** Checks of one status on one UTC day (`day` = days since the epoch). */
export interface DayStatusCount {
  day: number;
  status: string;
  checks: number;
}

/** Prunes old Previous Auths into daily counts, and reads counts back from both. */
export class RetentionRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Moves the oldest Previous Auths before `cutoff` (at most `limit` of them) into the daily
   * counts, in one short transaction: the rows are deleted and their counts added together, so a
   * check is counted live or rolled up, never both, never neither. Several instances may prune
   * at once: a row only counts for the transaction whose DELETE removed it. Returns how many.
   */
  async pruneBatch(cutoff: number, limit: number): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const removed = await trx
        .deleteFrom('auth_logs')
        .where('id', 'in', (eb) => eb.selectFrom('auth_logs').select('id').where('time', '<', cutoff).orderBy('time').limit(limit))
        .returning(['time', 'license_id', 'product_id', 'status'])
        .execute();
      const counts = new Map<string, AuthLogDailyTable>();
      for (const r of removed) {
        const day = Math.floor(Number(r.time) / DAY_MS);
        const key = `${day}|${r.license_id ?? 0}|${r.product_id ?? 0}|${r.status}`;
        const row = counts.get(key);
        if (row) row.checks++;
        else counts.set(key, { day, license_id: r.license_id ?? 0, product_id: r.product_id ?? 0, status: r.status, checks: 1 });
      }
      const rows = [...counts.values()];
      for (let i = 0; i < rows.length; i += UPSERT_CHUNK) {
        await trx
          .insertInto('auth_log_daily')
          .values(rows.slice(i, i + UPSERT_CHUNK))
          .onConflict((oc) =>
            oc.columns(['day', 'license_id', 'product_id', 'status']).doUpdateSet({ checks: sql`auth_log_daily.checks + excluded.checks` }),
          )
          .execute();
      }
      return removed.length;
    });
  }

  /**
   * Checks per UTC day and status for days `fromDay`..`toDay` (inclusive), from the daily counts
   * and the live rows together. One statement reads both, so it sees one state of the database: a
   * prune running meanwhile can neither hide checks nor count them twice.
   */
  async countsPerDay(fromDay: number, toDay: number, filter: CheckCountFilter = {}): Promise<DayStatusCount[]> {
    if (filter.licenseIds !== undefined && filter.licenseIds.length === 0) return [];
    // The divisor is a literal so both dialects see the same expression in SELECT and GROUP BY.
    const day = sql<number>`time / 86400000`;
    let live = this.db
      .selectFrom('auth_logs')
      .select((eb) => [day.as('day'), 'status', eb.fn.countAll<number>().as('checks')])
      .where('time', '>=', fromDay * DAY_MS)
      .where('time', '<', (toDay + 1) * DAY_MS);
    let rolled = this.db.selectFrom('auth_log_daily').select(['day', 'status', 'checks']).where('day', '>=', fromDay).where('day', '<=', toDay);
    if (filter.licenseIds !== undefined) {
      live = live.where('license_id', 'in', filter.licenseIds);
      rolled = rolled.where('license_id', 'in', filter.licenseIds);
    }
    if (filter.productId !== undefined) {
      live = live.where('product_id', '=', filter.productId);
      rolled = rolled.where('product_id', '=', filter.productId);
    }
    const rows = await this.db
      .selectFrom(rolled.unionAll(live.groupBy([day, 'status'])).as('u'))
      .select((eb) => ['u.day', 'u.status', eb.fn.sum<number>('u.checks').as('checks')])
      .groupBy(['u.day', 'u.status'])
      .execute();
    return rows.map((r) => ({ day: Number(r.day), status: r.status, checks: Number(r.checks) }));
  }

  /** How many Previous Auths are older than `cutoff` (for reports and tests). */
  async countOlderThan(cutoff: number): Promise<number> {
    const row = await this.db
      .selectFrom('auth_logs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('time', '<', cutoff)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }
}
