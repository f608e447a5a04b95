import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { RetentionJob } from '../src/retention/retention-job.js';
import { openServices, type Internals, type Services } from '../src/services.js';
import type { AuthLogInsert } from '../src/storage/schema.js';
import { describeEachDialect, type TestDatabase } from './helpers/dialects.js';
import { startTestServer } from './helpers/server.js';

/**
 * AUTH_LOG_RETENTION_DAYS: old Previous Auths are moved into daily counts in small batches, and
 * checks per day read the same before and after, for a license, several, a product, or all.
 */

const DAY = 86_400_000;
// Noon UTC, so "N days ago" never straddles a midnight by accident.
const NOW = Date.UTC(2026, 5, 15, 12);
const TODAY = Math.floor(NOW / DAY);
const STATUSES = ['AUTHORISED', 'AUTHORISED', 'AUTHORISED', 'NOT FOUND', 'KEY DISABLED', 'NOT AUTHORISED'];
const iso = (day: number) => new Date(day * DAY).toISOString().slice(0, 10);

/** `count` rows spread over the last `spanDays` days (deterministic), for licenses `ids` (null = unknown key). */
function makeRows(count: number, spanDays: number, ids: (number | null)[], products: Map<number | null, number>, seed: number): AuthLogInsert[] {
  return Array.from({ length: count }, (_, i) => {
    const n = (i * 7919 + seed * 104729) % 1_000_003;
    const licenseId = ids[n % ids.length]!;
    return {
      time: NOW - (n % spanDays) * DAY - (n % 43_000) * 1000,
      license_id: licenseId,
      product_id: products.get(licenseId) ?? 77,
      ip: `203.0.113.${n % 250}`,
      status: licenseId === null ? 'NOT FOUND' : STATUSES[n % STATUSES.length]!,
      info: null,
      user_agent: null,
    };
  });
}

/** What checks per day must say, counted straight from the rows. */
function expectedDays(rows: AuthLogInsert[], fromDay: number, toDay: number, keep: (r: AuthLogInsert) => boolean) {
  const days = new Map<number, { checks: number; passed: number; byStatus: Record<string, number> }>();
  for (let d = fromDay; d <= toDay; d++) days.set(d, { checks: 0, passed: 0, byStatus: {} });
  for (const r of rows) {
    const d = days.get(Math.floor(r.time / DAY));
    if (!d || !keep(r)) continue;
    d.checks++;
    if (r.status === 'AUTHORISED') d.passed++;
    d.byStatus[r.status] = (d.byStatus[r.status] ?? 0) + 1;
  }
  return [...days].map(([day, d]) => ({ day: iso(day), checks: d.checks, passed: d.passed, failed: d.checks - d.passed, byStatus: d.byStatus }));
}

describe('AUTH_LOG_RETENTION_DAYS (config)', () => {
  it('defaults to 90, takes 0 (keep forever), refuses anything else with a one-line message', () => {
    expect(loadConfig({}, { dotenv: false }).AUTH_LOG_RETENTION_DAYS).toBe(90);
    expect(loadConfig({ AUTH_LOG_RETENTION_DAYS: '0' }, { dotenv: false }).AUTH_LOG_RETENTION_DAYS).toBe(0);
    expect(loadConfig({ AUTH_LOG_RETENTION_DAYS: '365' }, { dotenv: false }).AUTH_LOG_RETENTION_DAYS).toBe(365);
    for (const bad of ['-1', '1.5', 'ninety', '36501']) {
      expect(() => loadConfig({ AUTH_LOG_RETENTION_DAYS: bad }, { dotenv: false })).toThrow(/^invalid configuration: AUTH_LOG_RETENTION_DAYS must /);
    }
  });
});

describeEachDialect('retention ($name)', (create, name) => {
  let db: TestDatabase;
  let services: Services;
  let internal: Internals;
  let a: number;
  let b: number;
  let c: number;
  const rows: AuthLogInsert[] = [];
  const insert = async (more: AuthLogInsert[]) => {
    for (let i = 0; i < more.length; i += 500) await internal.storage.db.insertInto('auth_logs').values(more.slice(i, i + 500)).execute();
    rows.push(...more);
  };
  const count = async () =>
    Number((await internal.storage.db.selectFrom('auth_logs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const job = (options: Partial<ConstructorParameters<typeof RetentionJob>[1]> = {}) =>
    new RetentionJob(internal.retention, { retentionDays: 10, batchSize: 97, pauseMs: 0, now: () => NOW, ...options });
  /** The charts the dashboard draws: one license, several, a product, everything. */
  const charts = async () => ({
    all: await services.checkStats.checksPerDay({ from: iso(TODAY - 44), to: iso(TODAY) }),
    one: await services.checkStats.checksPerDay({ licenseId: a, days: 45, now: NOW }),
    some: await services.checkStats.checksPerDay({ licenseIds: [a, c], days: 45, now: NOW }),
    product: await services.checkStats.checksPerDay({ productId: 8, days: 45, now: NOW }),
  });
  const expectedCharts = () => {
    const from = TODAY - 44;
    return {
      all: expectedDays(rows, from, TODAY, () => true),
      one: expectedDays(rows, from, TODAY, (r) => r.license_id === a),
      some: expectedDays(rows, from, TODAY, (r) => r.license_id === a || r.license_id === c),
      product: expectedDays(rows, from, TODAY, (r) => r.product_id === 8),
    };
  };

  beforeAll(async () => {
    db = await create();
    ({ services, internal } = await openServices(loadConfig(db.env, { dotenv: false })));
    await services.products.create({ id: 8, name: 'Eight' }, 'test');
    await services.products.create({ id: 9, name: 'Nine' }, 'test');
    a = (await services.licenses.create({ productIds: [8] }, 'test')).id;
    b = (await services.licenses.create({ productIds: [9] }, 'test')).id;
    c = (await services.licenses.create({ productIds: [8, 9] }, 'test')).id;
    await insert(makeRows(2500, 40, [a, b, c, null], new Map([[a, 8], [b, 9], [c, 8], [null, 8]]), 1));
  });
  afterAll(async () => {
    await services?.close();
    await db?.cleanup();
  });

  it('checks per day come from the live rows before any pruning, every day present, oldest first', async () => {
    const got = await charts();
    expect(got).toEqual(expectedCharts());
    expect(got.all).toHaveLength(45);
    expect(got.all[0]!.day).toBe(iso(TODAY - 44));
    expect(got.all.at(-1)!.day).toBe(iso(TODAY));
    expect(got.all.reduce((n, d) => n + d.checks, 0)).toBe(2500);
  });

  it('moves rows older than the retention into daily counts, batch by batch; charts read the same', async () => {
    const j = job();
    const cutoff = (TODAY - 10) * DAY;
    expect(j.cutoff()).toBe(cutoff);
    const old = rows.filter((r) => r.time < cutoff).length;
    expect(old).toBeGreaterThan(97 * 5);
    const result = await j.runOnce();
    expect(result).toEqual({ pruned: old, cutoff });
    expect(await count()).toBe(2500 - old);
    expect(await internal.retention.countOlderThan(cutoff)).toBe(0);
    // Whole days are kept: nothing from the first kept day went.
    const kept = await internal.storage.db.selectFrom('auth_logs').select((eb) => eb.fn.min('time').as('t')).executeTakeFirstOrThrow();
    expect(Number(kept.t)).toBeGreaterThanOrEqual(cutoff);
    expect(await charts()).toEqual(expectedCharts());
    // Nothing left to do.
    expect(await j.runOnce()).toEqual({ pruned: 0, cutoff });
  });

  it('adds later prunes to the same days (no overwrite, no double count)', async () => {
    await insert(makeRows(700, 40, [a, c, null], new Map([[a, 8], [c, 8], [null, 8]]), 2));
    const before = await charts();
    expect(before).toEqual(expectedCharts());
    const { pruned } = await job({ batchSize: 50 }).runOnce();
    expect(pruned).toBeGreaterThan(100);
    expect(await charts()).toEqual(before);
    const total = (await services.checkStats.checksPerDay({ days: 45, now: NOW })).reduce((n, d) => n + d.checks, 0);
    expect(total).toBe(3200);
  });

  it('a shorter retention later prunes more, and the charts still add up', async () => {
    const { pruned } = await job({ retentionDays: 2, batchSize: 500 }).runOnce();
    expect(pruned).toBeGreaterThan(0);
    expect(await internal.retention.countOlderThan((TODAY - 2) * DAY)).toBe(0);
    expect(await charts()).toEqual(expectedCharts());
  });

  it('0 keeps everything: the job never prunes and never schedules', async () => {
    const before = await count();
    const j = job({ retentionDays: 0 });
    expect(j.enabled).toBe(false);
    j.start();
    expect(await j.runOnce()).toMatchObject({ pruned: 0 });
    await j.stop();
    expect(await count()).toBe(before);
  });

  it('runs on its own schedule once started, and stop() waits for the batch in progress', async () => {
    await insert(makeRows(300, 30, [b], new Map([[b, 9]]), 3));
    const j = job({ retentionDays: 5, firstRunMs: 10, intervalMs: 50, batchSize: 20 });
    j.start();
    const deadline = Date.now() + 10_000;
    while ((await internal.retention.countOlderThan((TODAY - 5) * DAY)) > 0) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 20));
    }
    await j.stop();
    expect(await charts()).toEqual(expectedCharts());
  });

  it('checksPerDay: ranges, unknown ids, and bad input', async () => {
    const week = await services.checkStats.checksPerDay({ from: '2026-06-01', to: '2026-06-07' });
    expect(week.map((d) => d.day)).toEqual(['2026-06-01', '2026-06-02', '2026-06-03', '2026-06-04', '2026-06-05', '2026-06-06', '2026-06-07']);
    expect((await services.checkStats.checksPerDay({ licenseIds: [], days: 3, now: NOW })).every((d) => d.checks === 0)).toBe(true);
    expect((await services.checkStats.checksPerDay({ licenseId: 999_999, days: 3, now: NOW })).every((d) => d.checks === 0)).toBe(true);
    expect((await services.checkStats.checksPerDay({ productId: 4_000_000_000, days: 3, now: NOW })).every((d) => d.checks === 0)).toBe(true);
    await expect(services.checkStats.checksPerDay({ from: '2026-06-07', to: '2026-06-01' })).rejects.toThrow(/"from" must not be after "to"/);
    await expect(services.checkStats.checksPerDay({ from: '2000-01-01', to: '2026-06-01' })).rejects.toThrow(/at most 3660 days/);
    await expect(services.checkStats.checksPerDay({ from: 'last week' })).rejects.toThrow(/not a valid ISO 8601 date/);
  });

  if (name === 'postgres') {
    it('two instances pruning at once count every check exactly once', async () => {
      await insert(makeRows(3000, 40, [a, b, c, null], new Map([[a, 8], [b, 9], [c, 8], [null, 8]]), 4));
      const before = await charts();
      const older = await internal.retention.countOlderThan((TODAY - 3) * DAY);
      expect(older).toBeGreaterThan(1000);
      const other = await openServices(loadConfig(db.env, { dotenv: false }));
      try {
        const jobs = [job({ retentionDays: 3, batchSize: 40 }), new RetentionJob(other.internal.retention, { retentionDays: 3, batchSize: 40, pauseMs: 0, now: () => NOW })];
        const [x, y] = await Promise.all(jobs.map((j) => j.runOnce()));
        // Whichever instance's DELETE removed a row counts it; the other's skips it.
        expect(x!.pruned + y!.pruned).toBe(older);
      } finally {
        await other.services.close();
      }
      expect(await charts()).toEqual(before);
      expect(await charts()).toEqual(expectedCharts());
    });
  }
});

describeEachDialect('retention in the server ($name)', (create) => {
  it('the server owns a job configured from AUTH_LOG_RETENTION_DAYS and stops it on close', async () => {
    const server = await startTestServer(await create(), { AUTH_LOG_RETENTION_DAYS: '7' });
    try {
      expect(server.retention.enabled).toBe(true);
      const today = Math.floor(Date.now() / DAY);
      expect(server.retention.cutoff()).toBe((today - 7) * DAY);
      const old = Date.now() - 20 * DAY;
      await server.internal.storage.db
        .insertInto('auth_logs')
        .values([{ time: old, license_id: null, product_id: 1, ip: '203.0.113.1', status: 'NOT FOUND', info: null, user_agent: null }])
        .execute();
      expect(await server.retention.runOnce()).toMatchObject({ pruned: 1 });
      const day = await server.services.checkStats.checksPerDay({ from: iso(Math.floor(old / DAY)), to: iso(Math.floor(old / DAY)) });
      expect(day).toEqual([{ day: iso(Math.floor(old / DAY)), checks: 1, passed: 0, failed: 1, byStatus: { 'NOT FOUND': 1 } }]);
    } finally {
      await server.close();
      await server.db.cleanup();
    }
  });
});
