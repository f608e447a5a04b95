import { InvalidArgumentError } from 'commander';

/** Argument parsers for commander: each rejects bad input with a message commander prints. */
export function int(value: string): number {
  if (!/^\d{1,15}$/.test(value.trim())) throw new InvalidArgumentError('expected a whole number.');
  return Number(value);
}

export function collectInt(value: string, previous: number[] = []): number[] {
  return previous.concat(value.split(',').map((v) => int(v)));
}

export function bool(value: string): boolean {
  const v = value.trim().toLowerCase();
  if (['true', 'yes', 'on', '1'].includes(v)) return true;
  if (['false', 'no', 'off', '0'].includes(v)) return false;
  throw new InvalidArgumentError('expected true or false.');
}
