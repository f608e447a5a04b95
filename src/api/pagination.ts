import { KeywardError } from '../errors.js';
import { parseIsoTime } from '../licensing/values.js';

/** Opaque cursors for lists paged by row id; `kind` keeps one list's cursor out of another. */
export const encodeCursor = (kind: string, id: number): string => Buffer.from(`${kind}:${id}`).toString('base64url');

export function decodeCursor(kind: string, cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  const m = new RegExp(`^${kind}:(\\d{1,15})$`).exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new KeywardError('invalid_input', 'invalid cursor', [{ in: 'querystring', field: 'cursor', message: 'is not a cursor this list returned' }]);
  return Number(m[1]);
}

/** Rows were fetched with limit + 1: the extra one says whether another page follows. */
export function pageOf<T extends { id: number }>(rows: T[], limit: number, kind: string): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  return { items, nextCursor: rows.length > limit ? encodeCursor(kind, items[items.length - 1]!.id) : null };
}

export const DEFAULT_LIMIT = 100;

/** A time filter from the query string, as epoch ms. */
export function timeParam(field: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parseIsoTime(value);
  } catch (err) {
    throw new KeywardError('invalid_input', (err as Error).message, [{ in: 'querystring', field, message: 'is not an ISO 8601 date or date-time' }]);
  }
}
