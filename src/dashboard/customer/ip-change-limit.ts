import type { LogService } from '../../licensing/log-service.js';

const DAY_MS = 86_400_000;

const sameList = (a: unknown, b: unknown) => JSON.stringify(a ?? []) === JSON.stringify(b ?? []);

/**
 * How many times this actor changed the license's allowed IPs in the last 24 hours, read from
 * the audit log (every change is audited with before/after), so no extra bookkeeping is needed.
 */
export async function ipChangesInLastDay(logs: LogService, licenseId: number, actor: string, now = Date.now()): Promise<number> {
  const entries = await logs.audit({
    actor,
    action: 'license.updated',
    targetType: 'license',
    targetId: String(licenseId),
    from: now - DAY_MS,
    limit: 1000,
  });
  return entries.filter((e) => !sameList((e.before as { ips?: unknown } | null)?.ips, (e.after as { ips?: unknown } | null)?.ips)).length;
}
