import { sql, type Insertable, type Kysely, type Transaction, type Updateable } from 'kysely';
import type { Dialect } from './migrations/helpers.js';
import type { Database, WebhookDeliveriesTable, WebhookDeliveryRow, WebhookEndpointRow, WebhookEndpointsTable } from './schema.js';
import { lockRow } from './row-lock.js';

/** 15 columns a row; stays far below both dialects' bound-parameter limits. */
const INSERT_CHUNK = 200;

export interface DeliveryQuery {
  endpointId: number;
  status?: WebhookDeliveryRow['status'];
  beforeId?: number;
  limit: number;
}

export interface AttemptResult {
  statusCode: number | null;
  error: string | null;
  now: number;
}

/** Webhook endpoints and the delivery queue (which is also the delivery log). */
export class WebhookRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  insertEndpoint(row: Insertable<WebhookEndpointsTable>): Promise<WebhookEndpointRow> {
    return this.db.insertInto('webhook_endpoints').values(row).returningAll().executeTakeFirstOrThrow();
  }

  getEndpoint(id: number): Promise<WebhookEndpointRow | undefined> {
    return this.db.selectFrom('webhook_endpoints').selectAll().where('id', '=', id).executeTakeFirst();
  }

  listEndpoints(onlyActive = false): Promise<WebhookEndpointRow[]> {
    let q = this.db.selectFrom('webhook_endpoints').selectAll();
    if (onlyActive) q = q.where('active', '=', 1);
    return q.orderBy('id').execute();
  }

  /** False when there is no such endpoint. */
  async updateEndpoint(id: number, patch: Updateable<WebhookEndpointsTable>): Promise<boolean> {
    const result = await this.db.updateTable('webhook_endpoints').set(patch).where('id', '=', id).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /**
   * Locks the endpoint's row until the surrounding transaction ends (a no-op update: `lockRow`).
   * So its change and the "before" in its audit entry are not raced.
   * False when there is no such endpoint.
   */
  async lockEndpoint(id: number): Promise<boolean> {
    return lockRow(this.db, 'webhook_endpoints', id);
  }

  /** Deletes an endpoint and, by cascade, its deliveries. */
  async deleteEndpoint(id: number): Promise<boolean> {
    const result = await this.db.deleteFrom('webhook_endpoints').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async insertDeliveries(rows: readonly Insertable<WebhookDeliveriesTable>[]): Promise<WebhookDeliveryRow[]> {
    const inserted: WebhookDeliveryRow[] = [];
    if (rows.length === 0) return inserted;
    // Bound to a change's transaction (the outbox), the rows commit with the change.
    const insert = async (db: Kysely<Database>) => {
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
        inserted.push(...(await db.insertInto('webhook_deliveries').values(rows.slice(i, i + INSERT_CHUNK)).returningAll().execute()));
      }
    };
    await (this.db.isTransaction ? insert(this.db) : this.db.transaction().execute((trx: Transaction<Database>) => insert(trx)));
    return inserted;
  }

  getDelivery(id: number): Promise<WebhookDeliveryRow | undefined> {
    return this.db.selectFrom('webhook_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
  }

  listDeliveries(query: DeliveryQuery): Promise<WebhookDeliveryRow[]> {
    let q = this.db.selectFrom('webhook_deliveries').selectAll().where('endpoint_id', '=', query.endpointId);
    if (query.status !== undefined) q = q.where('status', '=', query.status);
    if (query.beforeId !== undefined) q = q.where('id', '<', query.beforeId);
    return q.orderBy('id', 'desc').limit(query.limit).execute();
  }

  /**
   * Claims up to `limit` due deliveries for this worker for `leaseMs`, counting the attempt.
   * PostgreSQL: `FOR UPDATE SKIP LOCKED` lets instances claim disjoint rows without waiting.
   * SQLite: the single UPDATE runs under the database write lock, so a row is claimed once.
   * A claim whose worker dies runs out and the row is claimed again (at-least-once delivery).
   */
  claim(now: number, leaseMs: number, limit: number): Promise<WebhookDeliveryRow[]> {
    let due = this.db
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('status', '=', 'pending')
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', now)]))
      .orderBy('next_attempt_at')
      .limit(limit);
    if (this.dialect === 'postgres') due = due.forUpdate().skipLocked();
    return this.db
      .updateTable('webhook_deliveries')
      .set({ locked_until: now + leaseMs, attempts: sql<number>`attempts + 1`, updated_at: now })
      .where('id', 'in', due)
      .returningAll()
      .execute();
  }

  async markDelivered(id: number, result: AttemptResult): Promise<void> {
    await this.db
      .updateTable('webhook_deliveries')
      .set({ status: 'delivered', locked_until: null, delivered_at: result.now, last_status_code: result.statusCode, last_error: null, updated_at: result.now })
      .where('id', '=', id)
      .execute();
  }

  /** Records a failed attempt: another one at `nextAttemptAt`, or none (`failed`) when null. */
  async markAttemptFailed(id: number, result: AttemptResult, nextAttemptAt: number | null): Promise<void> {
    await this.db
      .updateTable('webhook_deliveries')
      .set({
        status: nextAttemptAt === null ? 'failed' : 'pending',
        next_attempt_at: nextAttemptAt ?? result.now,
        locked_until: null,
        last_status_code: result.statusCode,
        last_error: result.error,
        updated_at: result.now,
      })
      .where('id', '=', id)
      .execute();
  }

  /** Deletes finished (delivered or failed) deliveries last touched before `before`; pending ones stay. */
  async purgeFinished(before: number): Promise<number> {
    const result = await this.db
      .deleteFrom('webhook_deliveries')
      .where('status', 'in', ['delivered', 'failed'])
      .where('updated_at', '<', before)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** The earliest time a pending delivery is due (null when none is pending). */
  async nextDue(): Promise<number | null> {
    const row = await this.db
      .selectFrom('webhook_deliveries')
      .select((eb) => eb.fn.min('next_attempt_at').as('next'))
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return row?.next === null || row?.next === undefined ? null : Number(row.next);
  }
}
