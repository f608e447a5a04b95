import { parseIps, type LicenseRecord } from '../storage/license-repository.js';
import type { AuditLogRow, AuthLogRow, MachineRow, ProductRow, UserRow } from '../storage/schema.js';
import type { PolicyRecord } from '../storage/policy-repository.js';
import { deadAt, isAlive, type MachineRules } from './machine-rules.js';
import type { MachineJson, PolicyJson } from './schemas/policy.js';
import type { Static } from 'typebox';
import type { LicenseJson } from './schemas/license.js';
import type { AuditEntry, CheckEntry } from './schemas/log.js';
import type { ProductJson } from './schemas/product.js';
import type { UserJson } from './schemas/user.js';

export type { LicenseJson } from './schemas/license.js';
export type { ProductJson } from './schemas/product.js';
export type { UserJson } from './schemas/user.js';
export type { MachineJson, PolicyJson } from './schemas/policy.js';
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
    policyId: r.policy_id,
    maxMachines: r.max_machines,
    firstUseDays: r.first_use_days,
    entitlements: parseStringList(r.entitlements),
    uses: Number(r.uses),
    maxUses: r.max_uses === null ? null : Number(r.max_uses),
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

export const policyJson = (p: PolicyRecord): PolicyJson => ({
  id: p.id,
  name: p.name,
  productIds: p.productIds,
  durationDays: p.duration_days,
  expiryBasis: p.expiry_basis,
  maxMachines: p.max_machines,
  machineIdentity: p.machine_identity,
  autoActivate: p.auto_activate === 1,
  heartbeatSeconds: p.heartbeat_seconds,
  deactivationsPerDay: p.deactivations_per_day,
  entitlements: parseStringList(p.entitlements),
  maxUses: p.max_uses === null ? null : Number(p.max_uses),
  createdAt: iso(p.created_at)!,
  updatedAt: iso(p.updated_at)!,
});

/** A machine as staff and its license's owner see it; `rules` (null: no longer tracked) decide whether it is alive. */
export function machineJson(m: MachineRow, rules: Pick<MachineRules, 'heartbeatMs'> | null, now = Date.now()): MachineJson {
  return {
    id: m.id,
    licenseId: m.license_id,
    fingerprint: m.fingerprint,
    name: m.name,
    platform: m.platform,
    hostname: m.hostname,
    ip: m.ip,
    createdAt: iso(m.created_at)!,
    lastSeenAt: iso(m.last_seen_at)!,
    alive: m.deactivated_at === null && (rules === null || isAlive(m.last_seen_at, rules, now)),
    deadAt: rules === null ? null : iso(deadAt(m.last_seen_at, rules)),
    fileExpiresAt: iso(m.file_expires_at),
    deactivatedAt: iso(m.deactivated_at),
  };
}

/** A stored JSON array of strings; anything else reads as empty. */
export function parseStringList(text: string): string[] {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
  } catch {
    return [];
  }
}

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
  endpoint: r.endpoint,
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
