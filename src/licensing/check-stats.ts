import { isPassing } from './validate-license.js';
import { KeywardError } from '../errors.js';
import { isDbId, parseIsoTime } from './values.js';
import { DAY_MS, type RetentionRepository } from '../storage/retention-repository.js';

/** One UTC day of checks: `day` is YYYY-MM-DD; `byStatus` counts each check status seen. */
export interface DayChecks {
  day: string;
  checks: number;
  passed: number;
  failed: number;
  byStatus: Record<string, number>;
}

export interface ChecksPerDayQuery {
  /** One license … */
  licenseId?: number;
  /** … or several (a customer's own; an empty list counts nothing) … */
  licenseIds?: readonly number[];
  /** … or one product; none of these: every check, unknown keys included. */
  productId?: number;
  /** First and last day, inclusive: `YYYY-MM-DD` (or any ISO time, read as its UTC day). */
  from?: string;
  to?: string;
  /** Without `from`: this many days up to `to` (default 30). */
  days?: number;
  now?: number;
}

const MAX_DAYS = 3660;

/**
 * Charts of checks over time that survive pruning: the daily counts of pruned Previous Auths
 * plus the live rows, never counted twice. Every day of the range is present, oldest first.
 */
export class CheckStats {
  constructor(private readonly repo: RetentionRepository) {}

  async checksPerDay(query: ChecksPerDayQuery = {}): Promise<DayChecks[]> {
    const toDay = query.to === undefined ? Math.floor((query.now ?? Date.now()) / DAY_MS) : dayOf(query.to);
    const fromDay = query.from === undefined ? toDay - Math.min(Math.max(query.days ?? 30, 1), MAX_DAYS) + 1 : dayOf(query.from);
    if (fromDay > toDay) throw new KeywardError('invalid_input', '"from" must not be after "to"');
    if (toDay - fromDay + 1 > MAX_DAYS) throw new KeywardError('invalid_input', `at most ${MAX_DAYS} days at a time`);
    let licenseIds = query.licenseIds;
    if (query.licenseId !== undefined) licenseIds = isDbId(query.licenseId) ? [query.licenseId] : [];
    const empty = (licenseIds !== undefined && licenseIds.length === 0) || (query.productId !== undefined && !isDbId(query.productId));
    const rows = empty ? [] : await this.repo.countsPerDay(fromDay, toDay, { licenseIds, productId: query.productId });
    const byDay = new Map<number, DayChecks>();
    const days: DayChecks[] = [];
    for (let d = fromDay; d <= toDay; d++) {
      const entry = { day: new Date(d * DAY_MS).toISOString().slice(0, 10), checks: 0, passed: 0, failed: 0, byStatus: {} };
      byDay.set(d, entry);
      days.push(entry);
    }
    for (const r of rows) {
      const entry = byDay.get(r.day);
      if (!entry) continue;
      entry.checks += r.checks;
      if (isPassing(r.status)) entry.passed += r.checks;
      else entry.failed += r.checks;
      entry.byStatus[r.status] = (entry.byStatus[r.status] ?? 0) + r.checks;
    }
    return days;
  }
}

function dayOf(value: string): number {
  return Math.floor(parseIsoTime(value) / DAY_MS);
}
