import type { FastifyRequest } from 'fastify';
import { Value } from 'typebox/value';
import { KeywardError } from '../errors.js';
import { Id } from '../licensing/schemas/common.js';

/** Reading urlencoded form bodies and query strings: every value arrives as a string or a list of them. */
export type Form = Record<string, string | string[] | undefined>;

export const formOf = (req: FastifyRequest): Form => (req.body && typeof req.body === 'object' ? (req.body as Form) : {});
export const queryOf = (req: FastifyRequest): Form => (req.query && typeof req.query === 'object' ? (req.query as Form) : {});

/** The first value of a field, or '' (repeated fields never smuggle an array into a string). */
export function text(form: Form, name: string): string {
  const v = form[name];
  return (Array.isArray(v) ? v[0] : v) ?? '';
}

export const trimmed = (form: Form, name: string): string => text(form, name).trim();

/** A trimmed value, or undefined when empty (an absent filter). */
export function optional(form: Form, name: string): string | undefined {
  const v = trimmed(form, name);
  return v === '' ? undefined : v;
}

export function all(form: Form, name: string): string[] {
  const v = form[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** A checkbox: present and not "0"/"false"/"off". */
export function checked(form: Form, name: string): boolean {
  const v = text(form, name).toLowerCase();
  return v !== '' && !['0', 'false', 'off', 'no'].includes(v);
}

/** Digits as a number (NaN for anything else): form fields are text, the domain schemas judge numbers. */
export const wholeNumber = (value: string): number => (/^\d{1,15}$/.test(value) ? Number(value) : Number.NaN);

/** A typed whole number, sign included (so "-1" is told its minimum, not that it is no number); NaN for anything else. */
export const integer = (value: string): number => (/^-?\d{1,20}$/.test(value.trim()) ? Number(value.trim()) : Number.NaN);

/**
 * A number field whose empty value means "none" (null). Text that is no whole number is refused
 * here, naming the field: the domain schemas would only say it must be "integer or null".
 */
export function numberOrNone(form: Form, name: string): number | null {
  const value = trimmed(form, name);
  if (value === '') return null;
  const n = integer(value);
  if (Number.isNaN(n)) throw new KeywardError('invalid_input', `${name} must be a whole number`, [{ field: name, message: 'must be a whole number' }]);
  return n;
}

/** A row id (the domain's Id schema), or undefined for anything else (so a typo shows nothing, not everything). */
export function positiveInt(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = wholeNumber(value);
  return Value.Check(Id, n) ? n : undefined;
}

/** Whole numbers from repeated fields and/or comma/space separated lists (NaN for what is not one). */
export function intList(form: Form, name: string): number[] {
  return all(form, name)
    .flatMap((v) => v.split(/[\s,]+/))
    .filter(Boolean)
    .map(wholeNumber);
}

/** A path on this site to return to after sign-in; anything else (other hosts, odd schemes) is refused. */
export function localPath(value: string | undefined, fallback = '/'): string {
  if (!value || !/^\/(?![/\\])[\x21-\x7e]*$/.test(value)) return fallback;
  return value;
}
