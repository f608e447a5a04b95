import { KeywardError } from '../errors.js';
import { LIMITS } from './schemas/limits.js';

/** Whether the database could hold this id (ids the API's Id schema accepts). */
export const isDbId = (id: number): boolean => Number.isSafeInteger(id) && id >= LIMITS.id.min && id <= LIMITS.id.max;

/**
 * Quotes a user-supplied value for an error message, unless it is long enough to be a license
 * key pasted in the wrong place: error messages must never carry a key.
 */
export function quote(value: string): string {
  return value.length <= 24 ? `"${value}"` : `a value of ${value.length} characters`;
}

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,3})?)?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * Parses an ISO 8601 date or date-time; a time without a zone is UTC, like every time Keyward
 * prints. Impossible calendar dates (2027-02-30) are refused, not rolled over.
 */
export function parseIsoTime(value: string): number {
  const m = ISO_TIME.exec(value.trim());
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', zone = 'Z'] = m ?? [];
  const date = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  const valid =
    m &&
    date.getUTCFullYear() === Number(y) &&
    date.getUTCMonth() === Number(mo) - 1 &&
    date.getUTCDate() === Number(d) &&
    Number(h) < 24 &&
    Number(mi) < 60 &&
    Number(s) < 60;
  const ms = valid ? Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${s}${frac}${zone.toUpperCase() === 'Z' ? 'Z' : normalizeZone(zone)}`) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw new KeywardError('invalid_input', `${quote(value)} is not a valid ISO 8601 date/time (e.g. 2027-01-31 or 2027-01-31T12:00:00Z)`);
  }
  return ms;
}

const normalizeZone = (zone: string): string => (zone.includes(':') ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`);
