import type { FastifyInstance } from 'fastify';
import type { DashboardContext } from '../context.js';

const WEEK_MS = 7 * 86_400_000;

/** /staff: counts, checks per day by result, and where failures come from. */
export async function overviewRoutes(app: FastifyInstance, ctx: DashboardContext): Promise<void> {
  const { licenses, logs, products } = ctx.services;

  app.get('/staff', async (req, reply) => {
    const since = Date.now() - WEEK_MS;
    const [counts, days, topIps, topLicenses, productList] = await Promise.all([
      licenses.counts(),
      logs.dailyChecks({ days: 30 }),
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
