import type { AuditQuery, AuditRepository } from '../storage/audit-repository.js';
import type { AuthLogQuery, AuthLogRepository } from '../storage/auth-log-repository.js';
import { auditJson, authLogJson, type AuditJson, type CheckEntryJson } from './json.js';
import { pageSize } from './paging.js';
import { isDbId } from './values.js';

/** The repositories' filters, with the page size optional (clamped to 1-10000 here). */
export type CheckLogFilter = Omit<AuthLogQuery, 'limit'> & { limit?: number };
export type AuditFilter = Omit<AuditQuery, 'limit'> & { limit?: number };


/** Reading Previous Auths and the audit log, newest first. */
export class LogService {
  constructor(private readonly repos: { authLogs: AuthLogRepository; audit: AuditRepository }) {}

  async checks(filter: CheckLogFilter = {}): Promise<CheckEntryJson[]> {
    // An id the database cannot hold names no license: nothing to list.
    if (filter.licenseId !== undefined && !isDbId(filter.licenseId)) return [];
    const rows = await this.repos.authLogs.list({ ...filter, limit: pageSize(filter.limit, 50) });
    return rows.map((r) => ({ id: r.id, ...authLogJson(r) }));
  }

  /** The IPs or licenses with the most failed checks since `since` (epoch ms), most first. */
  async topFailures(by: 'ip' | 'license', opts: { since: number; limit?: number }) {
    const rows = await this.repos.authLogs.topFailures(by, opts.since, pageSize(opts.limit, 10));
    return rows.map((r) => ({ value: r.value, failures: r.failures, lastTime: new Date(r.lastTime).toISOString() }));
  }

  async audit(filter: AuditFilter = {}): Promise<AuditJson[]> {
    const rows = await this.repos.audit.list({ ...filter, limit: pageSize(filter.limit, 100) });
    return rows.map(auditJson);
  }
}
