import type { Kysely } from 'kysely';
import type { AuditLogRow, Database } from './schema.js';

export interface AuditEntry {
  actor: string;
  action: string;
  targetType: string;
  targetId: string | number | null;
  before?: unknown;
  after?: unknown;
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  targetType?: string;
  targetId?: string;
  from?: number;
  to?: number;
  beforeId?: number;
  limit: number;
}

export class AuditRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(entry: AuditEntry, time = Date.now()): Promise<void> {
    await this.db
      .insertInto('audit_logs')
      .values({
        time,
        actor: entry.actor,
        action: entry.action,
        target_type: entry.targetType,
        target_id: entry.targetId === null ? null : String(entry.targetId),
        before: entry.before === undefined ? null : JSON.stringify(entry.before),
        after: entry.after === undefined ? null : JSON.stringify(entry.after),
      })
      .execute();
  }

  list(query: AuditQuery | number = 100): Promise<AuditLogRow[]> {
    const f: AuditQuery = typeof query === 'number' ? { limit: query } : query;
    let q = this.db.selectFrom('audit_logs').selectAll();
    if (f.actor !== undefined) q = q.where('actor', '=', f.actor);
    if (f.action !== undefined) q = q.where('action', '=', f.action);
    if (f.targetType !== undefined) q = q.where('target_type', '=', f.targetType);
    if (f.targetId !== undefined) q = q.where('target_id', '=', f.targetId);
    if (f.from !== undefined) q = q.where('time', '>=', f.from);
    if (f.to !== undefined) q = q.where('time', '<', f.to);
    if (f.beforeId !== undefined) q = q.where('id', '<', f.beforeId);
    return q.orderBy('id', 'desc').limit(f.limit).execute();
  }
}
