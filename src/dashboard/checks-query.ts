import type { CheckLogFilter } from '../licensing/log-service.js';
import { cut } from '../licensing/paging.js';
import { CHECK_STATUSES } from './format.js';
import { positiveInt, text, type Form } from './forms.js';

export const PAGE_SIZE = 25;

/** The result filter of a Previous Auths table: any, passed, failed, or one status. */
export function resultFilter(q: Form): { value: string; filter: Pick<CheckLogFilter, 'passed' | 'status'> } {
  const value = text(q, 'result');
  if (value === 'pass') return { value, filter: { passed: true } };
  if (value === 'fail') return { value, filter: { passed: false } };
  if ((CHECK_STATUSES as readonly string[]).includes(value)) return { value, filter: { status: value } };
  return { value: '', filter: {} };
}

/** One page of Previous Auths, newest first; `before` is the id to continue below. */
export async function checksPage<T extends { id: number }>(
  load: (filter: { beforeId?: number; limit: number }) => Promise<T[]>,
  q: Form,
): Promise<{ rows: T[]; nextBefore: number | null; first: boolean }> {
  const beforeId = positiveInt(text(q, 'before'));
  const { items, lastId } = cut(await load({ beforeId, limit: PAGE_SIZE + 1 }), PAGE_SIZE);
  return { rows: items, nextBefore: lastId, first: beforeId === undefined };
}

/** The current query string with `before` replaced (for the "older" link). */
export function withBefore(q: Form, before: number): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (k === 'before' || v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) if (one !== '') params.append(k, one);
  }
  params.set('before', String(before));
  return `?${params.toString()}`;
}
