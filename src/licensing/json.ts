import { parseIps, type LicenseRecord } from '../storage/license-repository.js';
import type { AuditLogRow, AuthLogRow, ProductRow, UserRow } from '../storage/schema.js';
import type { Static } from 'typebox';
import type { LicenseJson } from './schemas/license.js';
import type { AuditEntry, CheckEntry } from './schemas/log.js';
import type { ProductJson } from './schemas/product.js';
import type { UserJson } from './schemas/user.js';

export type { LicenseJson } from './schemas/license.js';
export type { ProductJson } from './schemas/product.js';
export type { UserJson } from './schemas/user.js';
export type CheckEntryJson = Static<typeof CheckEntry>;
export type AuditJson = Static<typeof AuditEntry>;

/**
 * The public JSON shapes (the API, CLI `--json`, the dashboard), built from rows; their schemas
 * are in schemas/. Times are ISO 8601 UTC.
 */
export const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function licenseJson(r: LicenseRecord): LicenseJson {
  return {
    id: r.id,
    productIds: r.productIds,
    owner: r.ownerUsername,
    active: r.active === 1,
    disabled: r.disabled === 1,
    ipLocked: r.ip_locked === 1,
    ips: parseIps(r.ips),
    expiresAt: iso(r.expires_at),
    note: r.note,
    totalChecks: r.total_checks,
    lastCheckAt: iso(r.last_check_at),
    lastIp: r.last_ip,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
  };
}

export const productJson = (p: ProductRow): ProductJson => ({
  id: p.id,
  name: p.name,
  description: p.description,
  createdAt: iso(p.created_at)!,
  updatedAt: iso(p.updated_at)!,
});

export const userJson = (u: UserRow): UserJson => ({
  id: u.id,
  username: u.username,
  email: u.email,
  role: u.role,
  discordId: u.discord_id,
  disabled: u.disabled === 1,
  createdAt: iso(u.created_at)!,
});

export const authLogJson = (r: AuthLogRow): Omit<CheckEntryJson, 'id'> => ({
  time: iso(r.time)!,
  licenseId: r.license_id,
  productId: r.product_id,
  ip: r.ip,
  status: r.status,
  info: r.info,
  userAgent: r.user_agent,
});

export const auditJson = (r: AuditLogRow): AuditJson => ({
  id: r.id,
  time: iso(r.time)!,
  actor: r.actor,
  action: r.action,
  targetType: r.target_type,
  targetId: r.target_id,
  before: r.before === null ? null : (JSON.parse(r.before) as unknown),
  after: r.after === null ? null : (JSON.parse(r.after) as unknown),
});
