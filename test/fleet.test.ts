import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { inject } from 'vitest';
import { cli, freePort, startServerProcess, type ServerProcess } from './helpers/cli.js';
import { createPostgres, type TestDatabase, describeEachDialect } from './helpers/dialects.js';
import { request } from './helpers/http.js';

/** Every check a test sends, so counters can be compared exactly. */
let sent = 0;

const status = async (url: string, key: string) => {
  sent++;
  return (await request(url, { path: '/api/check/8?log=false', headers: { Authorization: key } })).json.status as string;
};

/** Polls until `url` answers `want` for the key; returns how long that took. */
async function timeUntil(url: string, key: string, want: string): Promise<number> {
  const start = Date.now();
  while ((await status(url, key)) !== want) {
    if (Date.now() - start > 3000) throw new Error(`still not ${want} after 3 s`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - start;
}

/** Sends `n` checks spread over the URLs, a few at a time; every answer must be AUTHORISED. */
async function drive(urls: string[], key: string, n: number): Promise<void> {
  for (let i = 0; i < n; i += 10) {
    const answers = await Promise.all(
      Array.from({ length: Math.min(10, n - i) }, (_, j) => {
        sent++;
        return request(urls[(i + j) % urls.length]!, { path: '/api/check/8', headers: { Authorization: key } });
      }),
    );
    for (const a of answers) expect(a.json.status).toBe('AUTHORISED');
  }
}

describe('a fleet: two instances on one PostgreSQL database and one Redis', () => {
  const pgUrl = inject('pgUrl');
  if (!pgUrl) {
    it.skip('PostgreSQL is not available here', () => {});
    return;
  }
  let db: TestDatabase;
  const servers: ServerProcess[] = [];
  afterAll(async () => {
    for (const s of servers) await s.stop('SIGKILL');
    await db?.cleanup();
  });

  it('behaves as one: a change through one is seen by the other within 1 s, counters are exact', async () => {
    db = await createPostgres(pgUrl);
    const env = { ...db.env, REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' };
    await cli(env, ['product', 'create', '--name', 'Fleet', '--id', '8']);
    const license = await cli(env, ['license', 'create', '--product', '8']);
    // Both start at once on the fresh schema: the migration lock lets exactly one apply each migration.
    servers.push(...(await Promise.all([startServerProcess(env, await freePort()), startServerProcess(env, await freePort())])));
    const [a, b] = servers as [ServerProcess, ServerProcess];

    const N = 400;
    sent = 0;
    await drive([a.url, b.url], license.key, N);

    // A change made through instance A's process (its own API would do the same) is seen on B.
    await cli(env, ['license', 'update', String(license.id), '--disabled', 'true']);
    expect(await timeUntil(b.url, license.key, 'KEY DISABLED')).toBeLessThan(1000);
    expect(await timeUntil(a.url, license.key, 'KEY DISABLED')).toBeLessThan(1000);
    await cli(env, ['license', 'update', String(license.id), '--disabled', 'false']);
    expect(await timeUntil(a.url, license.key, 'AUTHORISED')).toBeLessThan(1000);
    expect(await timeUntil(b.url, license.key, 'AUTHORISED')).toBeLessThan(1000);

    expect(await a.stop('SIGTERM')).toBe(0);
    expect(await b.stop('SIGTERM')).toBe(0);
    servers.length = 0;
    // Every check sent to either instance is counted once; the polling ones were not logged.
    const shown = await cli(env, ['license', 'show', String(license.id)]);
    const logs = await cli(env, ['log', 'list', '--license', String(license.id), '--limit', '10000']);
    expect(logs).toHaveLength(N);
    expect(shown.totalChecks).toBe(sent);

    const client = new pg.Client({ connectionString: db.env.DATABASE_URL });
    await client.connect();
    const { rows } = await client.query('select name, count(*)::int as n from kysely_migration group by name having count(*) > 1');
    await client.end();
    expect(rows).toEqual([]);
  });
});

describeEachDialect('keyward serve --workers 2 ($name)', (create) => {
  let db: TestDatabase | undefined;
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.stop('SIGKILL');
    await db?.cleanup();
  });

  it('serves from every worker, sums their metrics, counts exactly and stops gracefully', async () => {
    db = await create();
    const env = { ...db.env, METRICS: 'on' };
    await cli(env, ['product', 'create', '--name', 'Workers', '--id', '8']);
    const license = await cli(env, ['license', 'create', '--product', '8']);
    server = await startServerProcess(env, await freePort(), 'info', ['--workers', '2']);
    // Both workers must be up before the load (the port answers as soon as the first one is).
    const until = Date.now() + 20_000;
    while ((server.output().match(/serving license checks/g) ?? []).length < 2 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const pids = new Set(
      [...server.output().matchAll(/"pid":(\d+)[^\n]*serving license checks/g)].map((m) => m[1]),
    );
    expect(pids.size).toBe(2);

    const N = 300;
    sent = 0;
    await drive([server.url], license.key, N);
    const metrics = await fetch(`${server.url}/metrics`).then((r) => r.text());
    const served = [...metrics.matchAll(/^keyward_checks_total\{endpoint="single",status="AUTHORISED"\} (\d+)$/gm)].map((m) => Number(m[1]));
    expect(served).toEqual([N]);

    await cli(env, ['license', 'update', String(license.id), '--active', 'false']);
    expect(await timeUntil(server.url, license.key, 'NOT ACTIVE')).toBeLessThan(1000);

    expect(await server.stop('SIGTERM')).toBe(0);
    server = undefined;
    const logs = await cli(env, ['log', 'list', '--license', String(license.id), '--limit', '10000']);
    expect(logs.filter((l: { status: string }) => l.status === 'AUTHORISED')).toHaveLength(N);
    expect((await cli(env, ['license', 'show', String(license.id)])).totalChecks).toBe(sent);
  });
});
