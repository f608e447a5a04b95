import { sql, type Kysely } from 'kysely';
import type { AuthLogInsert, Database } from './schema.js';

/** 8 columns a row; 500 rows stay far below SQLite's and PostgreSQL's bound-parameter limits. */
const INSERT_CHUNK = 500;

/** What a batch of checks adds to one license's counters. */
export interface CounterDelta {
  checks: number;
  lastCheckAt: number;
  lastIp: string;
}

export interface AuthLogQuery {
  licenseId?: number;
  licenseIds?: readonly number[];
  productId?: number;
  status?: string;
  from?: number;
  to?: number;
  beforeId?: number;
  limit: number;
}

/** Previous Auths rows and the per-license check counters that travel with them. */
export class AuthLogRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Writes one batch in one transaction: log rows, then counter increments (never lost, never doubled). */
  async writeBatch(rows: readonly AuthLogInsert[], counters: ReadonlyMap<number, CounterDelta>): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
        await trx.insertInto('auth_logs').values(rows.slice(i, i + INSERT_CHUNK)).execute();
      }
      for (const [licenseId, delta] of counters) {
        const newer = sql<boolean>`last_check_at is null or last_check_at <= ${delta.lastCheckAt}`;
        await trx
          .updateTable('licenses')
          .set({
            total_checks: sql`total_checks + ${delta.checks}`,
            last_check_at: sql`case when ${newer} then ${delta.lastCheckAt} else last_check_at end`,
            last_ip: sql`case when ${newer} then ${delta.lastIp} else last_ip end`,
          })
          .where('id', '=', licenseId)
          .execute();
      }
    });
  }

  list(query: AuthLogQuery) {
    let q = this.db.selectFrom('auth_logs').selectAll();
    if (query.licenseId !== undefined) q = q.where('license_id', '=', query.licenseId);
    if (query.licenseIds !== undefined) {
      if (query.licenseIds.length === 0) return Promise.resolve([]);
      q = q.where('license_id', 'in', query.licenseIds);
    }
    if (query.productId !== undefined) q = q.where('product_id', '=', query.productId);
    if (query.status !== undefined) q = q.where('status', '=', query.status);
    if (query.from !== undefined) q = q.where('time', '>=', query.from);
    if (query.to !== undefined) q = q.where('time', '<', query.to);
    if (query.beforeId !== undefined) q = q.where('id', '<', query.beforeId);
    return q.orderBy('id', 'desc').limit(query.limit).execute();
  }
}
