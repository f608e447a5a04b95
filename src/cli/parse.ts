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

/** A comma-separated list, trimmed, without empty entries. */
export const list = (value: string): string[] =>
  value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
