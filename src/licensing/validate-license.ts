import { ipAllowed, type IpRange } from './ip-allow-list.js';
import { licenseState } from './license-state.js';

/** The check statuses of docs/check-api.md, in check order: the outcomes a check records in Previous Auths. */
export const CHECK_STATUSES = ['AUTHORISED', 'NOT FOUND', 'KEY DISABLED', 'NOT ACTIVE', 'EXPIRED', 'NOT AUTHORISED'] as const;
export type CheckStatus = (typeof CHECK_STATUSES)[number];

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
}

export type LicenseOutcome =
  | { status: 'AUTHORISED'; bindIp?: string }
  | { status: 'EXPIRED'; expiresAt: number }
  | { status: 'KEY DISABLED' | 'NOT ACTIVE' | 'NOT AUTHORISED' };

/**
 * Decides whether a license (already known to grant the product) may run from `ip` at `now`.
 * A locked license with no allowed IPs binds the first caller's IP (returned as `bindIp`).
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
    if (license.ips.length === 0) return { status: 'AUTHORISED', bindIp: ip };
    if (!ipAllowed(license.ranges, ip)) return { status: 'NOT AUTHORISED' };
  }
  return { status: 'AUTHORISED' };
}
