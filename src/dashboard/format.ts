import { isPassing } from '../licensing/validate-license.js';
import type { LicenseState } from '../licensing/license-state.js';

/** Display helpers the templates use; everything they return is plain text (templates escape it). */

export const STATE_LABELS: Record<LicenseState, string> = {
  active: 'Active',
  inactive: 'Inactive',
  disabled: 'Disabled by staff',
  expired: 'Expired',
};

/** "2026-11-27 04:25 UTC": unambiguous for buyers in any time zone. */
export function when(iso: string | null | undefined, empty = 'never'): string {
  if (!iso) return empty;
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

export function day(iso: string | null | undefined, empty = 'never'): string {
  return iso ? iso.slice(0, 10) : empty;
}

export const number = (n: number): string => n.toLocaleString('en-US');

/** A masked key: the length of a default key, no characters of it. */
export const MASKED_KEY = '•'.repeat(12);

/** CSS class for a Previous Auths status. */
export const statusClass = (status: string): string => (isPassing(status) ? 'pass' : 'fail');

/** What a Previous Auths row can say (a braked check, RATE LIMITED, is answered but never recorded). */
export { CHECK_STATUSES } from '../licensing/validate-license.js';
