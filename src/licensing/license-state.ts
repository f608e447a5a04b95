/**
 * A license's state, decided once: disabled by staff, else switched off by its owner, else
 * expired (from the instant of its expiry), else active. The check path (validate-license.ts)
 * answers from it, the dashboard and CLI show it, the API filters by it; the database filters
 * and counts with the same rule written in SQL (`stateOf` in storage/license-repository.ts;
 * test/license-state.test.ts keeps the two in step).
 */
export const LICENSE_STATES = ['active', 'inactive', 'disabled', 'expired'] as const;
export type LicenseState = (typeof LICENSE_STATES)[number];

export interface LicenseStateFields {
  disabled: boolean;
  active: boolean;
  /** Epoch ms or ISO 8601 text; null for never. */
  expiresAt: number | string | null;
}

export function licenseState(license: LicenseStateFields, now = Date.now()): LicenseState {
  if (license.disabled) return 'disabled';
  if (!license.active) return 'inactive';
  const { expiresAt } = license;
  if (expiresAt !== null && now >= (typeof expiresAt === 'number' ? expiresAt : Date.parse(expiresAt))) return 'expired';
  return 'active';
}
