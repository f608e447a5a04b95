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

  list(limit = 100): Promise<AuditLogRow[]> {
    return this.db.selectFrom('audit_logs').selectAll().orderBy('id', 'desc').limit(limit).execute();
  }
}
