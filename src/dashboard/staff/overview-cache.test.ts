import { describe, expect, it } from 'vitest';
import type { ChecksPerDayQuery, DayChecks } from '../../licensing/check-stats.js';
import { DailyChecksCache } from './overview-routes.js';

const DAY = 86_400_000;

describe('the overview chart cache', () => {
  it('counts finished days once per day (and 10 minutes), and today on every call', async () => {
    const calls: number[] = [];
    const stats = {
      async checksPerDay({ days = 30, now = Date.now() }: ChecksPerDayQuery): Promise<DayChecks[]> {
        calls.push(days);
        const today = Math.floor(now / DAY);
        return Array.from({ length: days }, (_, i) => ({ day: String(today - days + 1 + i), checks: calls.length, passed: calls.length, failed: 0, byStatus: {} }));
      },
    };
    const cache = new DailyChecksCache(stats);
    const t0 = 100 * DAY + 1000;
    expect(await cache.last30(t0)).toHaveLength(30);
    const second = await cache.last30(t0 + 60_000);
    expect(second).toHaveLength(30);
    expect(second[0]!.passed).toBe(1);
    expect(second[29]!.passed).toBe(2);
    expect(calls).toEqual([30, 1]);
    await cache.last30(t0 + 11 * 60_000);
    expect(calls).toEqual([30, 1, 30]);
    const nextDay = await cache.last30(101 * DAY + 5);
    expect(calls).toEqual([30, 1, 30, 30]);
    expect(nextDay[29]!.day).toBe('101');
  });
});
