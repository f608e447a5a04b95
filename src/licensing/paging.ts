import { Type } from 'typebox';
import { KeywardError } from '../errors.js';
import { MAX_DB_ID } from './schemas/limits.js';

/**
 * Paging for every list, on every surface: page sizes, opaque cursors and `{ items, nextCursor }`.
 * Lists are paged by row id (ascending or descending); a cursor is `<list>:<last id>` in
 * base64url, where the list's letter keeps one list's cursor out of another.
 */

export const PAGE_SIZE = {
  /** When a caller names none. */
  default: 100,
  /** The most one page holds for the services and the CLI. */
  max: 10_000,
  /** The most one API page holds (docs/api.md#pagination). */
  api: 1000,
} as const;

/**
 * The letter of each list's cursors (cursors handed out already keep working) and its largest
 * id: the logs count past the 32-bit ids of the other tables.
 */
export const CURSOR_LISTS = {
  licenses: { letter: 'l', maxId: MAX_DB_ID },
  products: { letter: 'p', maxId: MAX_DB_ID },
  policies: { letter: 'y', maxId: MAX_DB_ID },
  machines: { letter: 'm', maxId: MAX_DB_ID },
  users: { letter: 'u', maxId: MAX_DB_ID },
  webhooks: { letter: 'w', maxId: MAX_DB_ID },
  deliveries: { letter: 'd', maxId: Number.MAX_SAFE_INTEGER },
  checks: { letter: 'c', maxId: Number.MAX_SAFE_INTEGER },
  audit: { letter: 'a', maxId: Number.MAX_SAFE_INTEGER },
} as const;
export type CursorList = keyof typeof CURSOR_LISTS;

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` for the next page; null on the last one. */
  nextCursor: string | null;
}

/** The page-size and cursor query fields of an API list. */
export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: PAGE_SIZE.api, description: `Page size (default ${PAGE_SIZE.default})` })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'The `nextCursor` of the previous page' })),
};

/** A page size within 1..max; the default when none is given. */
export const pageSize = (limit: number | undefined, fallback: number = PAGE_SIZE.default): number =>
  Math.min(Math.max(limit ?? fallback, 1), PAGE_SIZE.max);

export const encodeCursor = (list: CursorList, id: number): string => Buffer.from(`${CURSOR_LISTS[list].letter}:${id}`).toString('base64url');

/** The id a cursor continues after (or before), or undefined for the first page. */
export function decodeCursor(list: CursorList, cursor: string | undefined): number | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  const m = /^([a-z]):(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  const { letter, maxId } = CURSOR_LISTS[list];
  if (!m || m[1] !== letter || Number(m[2]) > maxId) {
    throw new KeywardError('invalid_input', 'invalid cursor', [{ field: 'cursor', message: 'is not a cursor this list returned' }]);
  }
  return Number(m[2]);
}

/** The rows of a page and the id to continue from; rows were fetched with limit + 1, the extra one says another page follows. */
export function cut<T extends { id: number }>(rows: readonly T[], limit: number): { items: T[]; lastId: number | null } {
  const items = rows.slice(0, limit);
  return { items, lastId: rows.length > limit ? items[items.length - 1]!.id : null };
}

export function pageOf<T extends { id: number }>(rows: readonly T[], limit: number, list: CursorList): Page<T> {
  const { items, lastId } = cut(rows, limit);
  return { items, nextCursor: lastId === null ? null : encodeCursor(list, lastId) };
}
