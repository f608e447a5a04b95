import { ipAllowed, type IpRange } from './ip-allow-list.js';
import { licenseState } from './license-state.js';
import type { MachineRules } from './machine-rules.js';

/**
 * Every status a check or a client endpoint answers and records in Previous Auths, in check order
 * (docs/check-api.md): the check statuses, then the machine steps, then the client endpoints' own.
 */
export const CHECK_STATUSES = [
  'AUTHORISED',
  'NOT FOUND',
  'KEY DISABLED',
  'NOT ACTIVE',
  'EXPIRED',
  'NOT AUTHORISED',
  'FINGERPRINT REQUIRED',
  'NOT ACTIVATED',
  'TOO MANY MACHINES',
  'ENTITLEMENT MISSING',
  'ACTIVATED',
  'ALREADY ACTIVATED',
  'DEACTIVATED',
  'DEACTIVATION LIMIT',
  'ALIVE',
  'OK',
  'USAGE EXCEEDED',
  'ISSUED',
  'FILE NOT ALLOWED',
  'INVALID INPUT',
] as const;
export type CheckStatus = (typeof CHECK_STATUSES)[number];

/** The statuses that answer `pass: true`. */
export const PASSING_STATUSES: readonly CheckStatus[] = ['AUTHORISED', 'ACTIVATED', 'ALREADY ACTIVATED', 'DEACTIVATED', 'ALIVE', 'OK', 'ISSUED'];
const PASSING = new Set<string>(PASSING_STATUSES);
export const isPassing = (status: string): boolean => PASSING.has(status);

/** A machine the check path knows of (a machines row), with when this process last saw it. */
export interface KnownMachine {
  id: number;
  license_id: number;
  fingerprint: string;
  name: string | null;
  platform: string | null;
  hostname: string | null;
  ip: string | null;
  created_at: number;
  last_seen_at: number;
  /** The end of the latest license file issued for it: it holds its slot until then. */
  file_expires_at?: number | null;
  /** Freed by its key holder or owner while a file held its slot: no longer active, slot still held. */
  deactivated_at?: number | null;
}

/**
 * A license's machines as the check path holds them: its rules, its active machines by fingerprint,
 * and, by fingerprint, when the files of machines freed while a file held their slot end (those
 * slots stay taken, and such a machine may take its own slot back).
 */
export interface MachineSlots {
  rules: MachineRules;
  known: Map<string, KnownMachine>;
  held?: ReadonlyMap<string, number>;
}

/** What the hot path needs to know about a license; counters are not part of it. */
export interface LicenseSnapshot {
  id: number;
  productIds: readonly number[];
  active: boolean;
  disabled: boolean;
  ipLocked: boolean;
  ips: string[];
  ranges: IpRange[];
  expiresAt: number | null;
  /** Machine tracking (docs/machines.md); absent or null: the license tracks no machines. */
  machines?: MachineSlots | null;
  /** A first-use expiry waiting to start: days from the first AUTHORISED answer. */
  firstUseDays?: number | null;
  /** Feature codes the license grants: its policy's and its own (absent: none). */
  entitlements?: ReadonlySet<string>;
  /** The usage limit, the license's own over its policy's (absent or null: not metered). */
  maxUses?: number | null;
}

export type LicenseOutcome =
  | { status: 'AUTHORISED'; bindIp?: string }
  | { status: 'EXPIRED'; expiresAt: number }
  | { status: 'KEY DISABLED' | 'NOT ACTIVE' | 'NOT AUTHORISED' };

/**
 * Decides whether a license (already known to grant the product) may run from `ip` at `now`.
 * A locked license with no allowed IPs binds the first caller's IP (returned as `bindIp`), unless
 * its machines are identified by IP: then each IP is a machine and none is bound.
 */
export function validateLicense(license: LicenseSnapshot, ip: string, now: number): LicenseOutcome {
  switch (licenseState(license, now)) {
    case 'disabled':
      return { status: 'KEY DISABLED' };
    case 'inactive':
      return { status: 'NOT ACTIVE' };
    case 'expired':
      return { status: 'EXPIRED', expiresAt: license.expiresAt! };
  }
  if (license.ipLocked) {
    if (license.ips.length === 0) return license.machines?.rules.identity === 'ip' ? { status: 'AUTHORISED' } : { status: 'AUTHORISED', bindIp: ip };
    if (!ipAllowed(license.ranges, ip)) return { status: 'NOT AUTHORISED' };
  }
  return { status: 'AUTHORISED' };
}
