import type { FastifyRequest } from 'fastify';
import { Value } from 'typebox/value';
import { KeywardError } from '../errors.js';
import type { InputProblem } from '../licensing/schemas/check-input.js';
import { Id } from '../licensing/schemas/common.js';
import { quote } from '../licensing/values.js';

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
 * Refuses the typed number fields (of `fields`) that hold no whole number, naming each: the domain
 * schemas would only say such a field must be "integer or null". Empty fields are left alone.
 */
export function requireWholeNumbers<F extends string>(values: Record<F, string>, fields: readonly F[]): void {
  const problems: InputProblem[] = fields.filter((f) => values[f] !== '' && Number.isNaN(integer(values[f]))).map((field) => ({ field, message: 'must be a whole number' }));
  if (problems.length) throw new KeywardError('invalid_input', `${problems[0]!.field} ${problems[0]!.message}`, problems);
}

/** A typed number field whose empty value means "none" (null); what is no whole number is NaN, for the schema to refuse. */
export const orNone = (value: string): number | null => (value === '' ? null : integer(value));

/** A number as its form field shows it: empty for none. */
export const numberText = (n: number | null): string => (n === null ? '' : String(n));

/** The entries of a list typed with commas, spaces or new lines (allowed IPs, feature codes, ids). */
export const words = (value: string): string[] => value.split(/[\s,]+/).filter(Boolean);

/** A row id (the domain's Id schema), or undefined for anything else (so a typo shows nothing, not everything). */
export function positiveInt(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = wholeNumber(value);
  return Value.Check(Id, n) ? n : undefined;
}

/** Whole numbers from repeated fields and/or comma/space separated lists (NaN for what is not one). */
export function intList(form: Form, name: string): number[] {
  return all(form, name).flatMap(words).map(wholeNumber);
}

/** A path on this site to return to after sign-in; anything else (other hosts, odd schemes) is refused. */
export function localPath(value: string | undefined, fallback = '/'): string {
  if (!value || !/^\/(?![/\\])[\x21-\x7e]*$/.test(value)) return fallback;
  return value;
}

/** A refused form: the message for the top of the form and one per field, shown next to it. */
export interface FormErrors {
  message: string;
  fields: Record<string, string>;
}

/** Errors that name a thing, not a field, and the form field that typed it. */
const FIELD_OF_CODE: Partial<Record<string, string>> = { product_not_found: 'productIds', policy_not_found: 'policyId', user_not_found: 'owner' };

/**
 * A service's refusal as a form shows it; each field's first problem goes next to that field. An
 * entry of a typed list (`lists`: the entries as typed) is named by what was typed, not its index.
 */
export function formErrors(err: KeywardError, lists: Record<string, readonly string[]> = {}): FormErrors {
  const fields: Record<string, string> = {};
  const problems = Array.isArray(err.details) ? (err.details as InputProblem[]) : [];
  for (const p of problems) {
    // `productIds[0]` and `entitlements[2]` belong to the productIds and entitlements fields.
    const field = p.field.replace(/[[.].*$/, '');
    const index = /^[^[]+\[(\d+)\]$/.exec(p.field)?.[1];
    const typed = index === undefined ? undefined : lists[field]?.[Number(index)];
    fields[field] ??= `${typed === undefined ? p.field : quote(typed)} ${p.message}`;
  }
  const named = FIELD_OF_CODE[err.code];
  if (named) fields[named] ??= err.message;
  return { message: err.message, fields };
}
