import type { AuditQuery, AuditRepository } from '../storage/audit-repository.js';
import type { AuthLogQuery, AuthLogRepository } from '../storage/auth-log-repository.js';
import { auditJson, authLogJson } from './json.js';
import { isDbId } from './values.js';

/** The repositories' filters, with the page size optional (clamped to 1-10000 here). */
export type CheckLogFilter = Omit<AuthLogQuery, 'limit'> & { limit?: number };
export type AuditFilter = Omit<AuditQuery, 'limit'> & { limit?: number };

const clampLimit = (limit: number | undefined, fallback: number) => Math.min(Math.max(limit ?? fallback, 1), 10_000);

/** Reading Previous Auths and the audit log, newest first. */
export class LogService {
  constructor(private readonly repos: { authLogs: AuthLogRepository; audit: AuditRepository }) {}

  async checks(filter: CheckLogFilter = {}) {
    // An id the database cannot hold names no license: nothing to list.
    if (filter.licenseId !== undefined && !isDbId(filter.licenseId)) return [];
    const rows = await this.repos.authLogs.list({ ...filter, limit: clampLimit(filter.limit, 50) });
    return rows.map((r) => ({ id: r.id, ...authLogJson(r) }));
  }

  /** The IPs or licenses with the most failed checks since `since` (epoch ms), most first. */
  async topFailures(by: 'ip' | 'license', opts: { since: number; limit?: number }) {
    const rows = await this.repos.authLogs.topFailures(by, opts.since, clampLimit(opts.limit, 10));
    return rows.map((r) => ({ value: r.value, failures: r.failures, lastTime: new Date(r.lastTime).toISOString() }));
  }

  async audit(filter: AuditFilter = {}) {
    const rows = await this.repos.audit.list({ ...filter, limit: clampLimit(filter.limit, 100) });
    return rows.map(auditJson);
  }
}
