import type { FastifyInstance } from 'fastify';
import type { CheckStats } from '../../licensing/check-stats.js';
import type { ChartDay } from '../chart.js';
import type { DashboardContext } from '../context.js';

const DAY_MS = 86_400_000;
/** Finished days barely change (only imports add to them), so they are re-counted at most this often. */
const PAST_DAYS_TTL_MS = 10 * 60_000;

/**
 * The 30-day chart over every license (live Previous Auths plus pruned daily counts): the 29 finished days are counted once and kept (that
 * scan is the expensive part with a million Previous Auths); today is counted on every view.
 */
export class DailyChecksCache {
  private past: { today: number; at: number; days: ChartDay[] } | null = null;

  constructor(private readonly stats: Pick<CheckStats, 'checksPerDay'>) {}

  async last30(now = Date.now()): Promise<ChartDay[]> {
    const today = Math.floor(now / DAY_MS);
    if (!this.past || this.past.today !== today || now - this.past.at > PAST_DAYS_TTL_MS) {
      const days = await this.stats.checksPerDay({ days: 30, now });
      this.past = { today, at: now, days: days.slice(0, -1) };
      return days;
    }
    return [...this.past.days, ...(await this.stats.checksPerDay({ days: 1, now }))];
  }
}

/** /staff: counts, checks per day by result, and where failures come from. */
export async function overviewRoutes(app: FastifyInstance, ctx: DashboardContext): Promise<void> {
  const { licenses, logs, products } = ctx.services;
  const daily = new DailyChecksCache(ctx.services.checkStats);

  app.get('/staff', async (req, reply) => {
    // Who is failing now: the last 24 hours (a week of a busy server's failures is a slow scan).
    const since = Date.now() - DAY_MS;
    const [counts, days, topIps, topLicenses, productList] = await Promise.all([
      licenses.counts(),
      daily.last30(),
      logs.topFailures('ip', { since, limit: 10 }),
      logs.topFailures('license', { since, limit: 10 }),
      products.list(),
    ]);
    const today = days[days.length - 1]!;
    return ctx.pages.send(req, reply, 'staff/overview', {
      title: 'Overview',
      counts,
      today,
      days,
      topIps,
      topLicenses,
      productCount: productList.length,
    });
  });
}
