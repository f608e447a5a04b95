import { isPassing } from '../licensing/validate-license.js';
import type { LicenseState } from '../licensing/license-state.js';
import type { FormErrors } from './forms.js';

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

/** A policy's duration: "365 days", or "perpetual". */
export const duration = (days: number | null): string => (days === null ? 'perpetual' : `${number(days)} day${days === 1 ? '' : 's'}`);

/** A policy's heartbeat: "10 min", "1 h", "90 s", or "none" (machines live until freed). */
export function heartbeat(seconds: number | null): string {
  if (seconds === null) return 'none';
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${number(seconds)} s`;
}

/** A machine limit: "3", or "not tracked". */
export const machineLimit = (max: number | null): string => (max === null ? 'not tracked' : number(max));

/** How pages and messages name a machine: its name, else its hostname, else its id. */
export const machineName = (m: { id: number; name: string | null; hostname: string | null }): string => m.name || m.hostname || `Machine #${m.id}`;

/** When a license expires: its date, "10 days after first use" while a first-use clock waits, or "never". */
export function expiry(l: { expiresAt: string | null; firstUseDays: number | null }, show: (iso: string) => string = day): string {
  if (l.expiresAt) return show(l.expiresAt);
  return l.firstUseDays === null ? 'never' : `${duration(l.firstUseDays)} after first use`;
}

/** A refused form's message for one field, '' when it has none. */
export const fieldError = (errors: FormErrors | null | undefined, field: string): string => errors?.fields[field] ?? '';

/** The field's aria-invalid value (aria-errormessage is read only while it is "true"). */
export const invalid = (errors: FormErrors | null | undefined, field: string): 'true' | 'false' => (fieldError(errors, field) ? 'true' : 'false');
