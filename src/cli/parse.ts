import { InvalidArgumentError } from 'commander';
import type { TSchema } from 'typebox';
import { KeywardError } from '../errors.js';
import { PAGE_SIZE } from '../licensing/paging.js';
import { checkInput } from '../licensing/schemas/check-input.js';
import { Id } from '../licensing/schemas/common.js';
import { LIMITS } from '../licensing/schemas/limits.js';
import { ROLES, RoleSchema } from '../licensing/schemas/user.js';

/** Argument parsers for commander: each rejects bad input with a message commander prints. */
export function int(value: string): number {
  if (!/^\d{1,15}$/.test(value.trim())) throw new InvalidArgumentError('expected a whole number.');
  return Number(value);
}

/** An option value checked against its domain schema: the same limits as every other surface. */
function checked<T extends TSchema>(schema: T, value: unknown, expected: string) {
  try {
    return checkInput(schema, value);
  } catch (err) {
    if (err instanceof KeywardError) throw new InvalidArgumentError(`${expected}.`);
    throw err;
  }
}

/** A product id (or any row id) the database can hold. */
export const dbId = (value: string): number => checked(Id, int(value), `expected an id from ${LIMITS.id.min} to ${LIMITS.id.max}`);

export function collectIds(value: string, previous: number[] = []): number[] {
  return previous.concat(value.split(',').map((v) => dbId(v)));
}

/** How many rows a listing prints. */
export const pageLimit = (value: string): number => {
  const n = int(value);
  if (n < 1 || n > PAGE_SIZE.max) throw new InvalidArgumentError(`expected a whole number from 1 to ${PAGE_SIZE.max}.`);
  return n;
};

export const role = (value: string) => checked(RoleSchema, value.trim(), `expected one of ${ROLES.join(', ')}`);

export function bool(value: string): boolean {
  const v = value.trim().toLowerCase();
  if (['true', 'yes', 'on', '1'].includes(v)) return true;
  if (['false', 'no', 'off', '0'].includes(v)) return false;
  throw new InvalidArgumentError('expected true or false.');
}

/** What an option parser returns for "never", "none" or "inherit": commander turns a parsed null into "". */
export const UNSET = Symbol('unset');
export type Unsettable = number | typeof UNSET;

/** An option's value for the services: null where the word said "none". */
export const orNull = <T>(value: T | typeof UNSET): T | null => (value === UNSET ? null : value);

interface Range {
  min: number;
  max: number;
}

/** A whole number checked against its domain schema (the API's limits); the message names the range, never the value. */
function wholeNumber(value: string, schema: TSchema, range: Range, word?: string): number {
  const expected = `expected a whole number from ${range.min} to ${range.max}${word ? ` or ${word}` : ''}`;
  const v = value.trim();
  if (!/^\d{1,16}$/.test(v)) throw new InvalidArgumentError(`${expected}.`);
  return checked(schema, Number(v), expected) as number;
}

/** A whole-number option within the limits of its domain schema. */
export const count =
  (schema: TSchema, range: Range) =>
  (value: string): number =>
    wholeNumber(value, schema, range);

/** A whole-number option within its schema's limits, or UNSET when it is `word` ("never", "none", "inherit"). */
export const countOr =
  (word: string, schema: TSchema, range: Range) =>
  (value: string): Unsettable =>
    value.trim().toLowerCase() === word ? UNSET : wholeNumber(value, schema, range, word);

/** A row id, or UNSET when it is `word` ("none"). */
export const idOr = (word: string) => countOr(word, Id, LIMITS.id);

/** One of a closed list of words (expiry bases, machine identities). */
export const oneOf =
  <const T extends readonly string[]>(values: T) =>
  (value: string): T[number] => {
    const v = value.trim().toLowerCase();
    if (!values.includes(v)) throw new InvalidArgumentError(`expected one of ${values.join(', ')}.`);
    return v as T[number];
  };

/** A comma-separated list, trimmed, without empty entries. */
export const list = (value: string): string[] =>
  value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
