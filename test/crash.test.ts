import http from 'node:http';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { openServices } from '../src/services.js';
import { cli, freePort, startServerProcess, type ServerProcess } from './helpers/cli.js';
import { describeEachDialect, type TestDatabase } from './helpers/dialects.js';

/**
 * Crash safety: a `keyward serve` process under load is killed with SIGKILL (no
 * graceful stop, no final flush), then restarted. Nothing committed may be lost or damaged:
 * SQLite's integrity check passes, every license and product is exactly as before, and of the
 * Previous Auths whose answers the test received only the last ~250 ms may be missing
 * (docs/deployment.md, "Graceful shutdown": writes reach the database within 250 ms).
 */

const RATE = 400; // checks per second the load aims at
const LOAD_MS = 1500;
const WORKERS = 8;

describeEachDialect('crash safety: kill -9 under load ($name)', (create, name) => {
  let db: TestDatabase;
  let server: ServerProcess | undefined;
  let loaded: { id: number; key: string };
  let silent: { id: number; key: string };

  beforeAll(async () => {
    db = await create();
    // A realistic data set, made in-process (faster than one CLI run per license).
    const { services } = await openServices(loadConfig(db.env, { dotenv: false }));
    try {
      await services.users.create({ username: 'buyer', password: 'correct horse battery staple', role: 'customer' }, 'test');
      for (const [id, productName] of [[8, 'Script'], [16, 'Map pack'], [32, 'Ünïcode ✓ product']] as const) {
        await services.products.create({ id, name: productName, description: `about ${productName}` }, 'test');
      }
      const make = async (extra: Record<string, unknown>) => {
        const l = await services.licenses.create({ productIds: [8], ...extra } as never, 'test');
        return { id: l.id, key: l.key };
      };
      loaded = await make({ note: 'the loaded one' });
      silent = await make({ productIds: [8, 16], note: 'checked with log=false' });
      for (let i = 0; i < 30; i++) {
        await make({
          productIds: i % 3 === 0 ? [8, 16] : i % 3 === 1 ? [32] : [16],
          owner: i % 2 ? 'buyer' : null,
          ipLocked: i % 4 === 0,
          ips: i % 4 === 0 ? ['203.0.113.7', '198.51.100.0/24'] : [],
          expiresAt: i % 5 === 0 ? '2031-06-30T12:00:00Z' : null,
          note: i % 6 === 0 ? `note ${i} — ✓ "quoted"` : null,
        });
      }
    } finally {
      await services.close();
    }
  });
  afterAll(async () => {
    await server?.stop('SIGKILL');
    await db?.cleanup();
  });

  it('loses nothing committed, and at most the last ~250 ms of Previous Auths', { timeout: 120_000 }, async () => {
    server = await startServerProcess(db.env, await freePort(), 'warn');
    const before = {
      licenses: await cli(db.env, ['license', 'list', '--limit', '10000']),
      products: await cli(db.env, ['product', 'list']),
    };
    expect(before.licenses).toHaveLength(32);

    // The load: RATE checks a second over a few keep-alive connections, each with a unique info.
    const { hostname, port } = new URL(server.url);
    const agent = new http.Agent({ keepAlive: true, maxSockets: WORKERS });
    const answered = new Map<string, number>(); // info → when its AUTHORISED answer arrived
    let silentAnswered = 0;
    const sent = new Set<string>();
    let stop = false;
    let next = 0;
    const start = Date.now();
    const send = (i: number): Promise<void> =>
      new Promise((resolve) => {
        const quiet = i % 5 === 4;
        const info = `c${i}`;
        const path = quiet ? `/api/check/multiple?proIds=16&log=false&info=${info}` : `/api/check/8?info=${info}`;
        if (!quiet) sent.add(info);
        const req = http.request({ host: hostname, port, method: 'POST', path, headers: { authorization: quiet ? silent.key : loaded.key }, agent }, (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => {
            if (res.statusCode === 200 && text.includes('"AUTHORISED"')) {
              if (quiet) silentAnswered++;
              else answered.set(info, Date.now());
            }
            resolve();
          });
          res.on('error', () => resolve());
        });
        req.on('error', () => resolve()); // in flight when the process died: never answered
        req.end();
      });
    const workers = Array.from({ length: WORKERS }, async () => {
      while (!stop) {
        const i = next++;
        const due = start + (i * 1000) / RATE;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
        if (stop) break;
        await send(i);
      }
    });

    await new Promise((r) => setTimeout(r, LOAD_MS));
    // kill -9 in the middle of the load: no signal handler, no final flush.
    const killedAt = Date.now();
    server.child.kill('SIGKILL');
    await server.stop('SIGKILL');
    stop = true;
    await Promise.all(workers);
    agent.destroy();
    server = undefined;

    const recentRate = [...answered.values()].filter((t) => t > killedAt - 1000 && t <= killedAt).length; // answers in the last second
    expect(answered.size, 'the load ran').toBeGreaterThan(LOAD_MS * 0.1);

    if (db.file) {
      const sqlite = new Database(db.file);
      try {
        expect(sqlite.pragma('integrity_check', { simple: true })).toBe('ok');
        expect(sqlite.pragma('foreign_key_check')).toEqual([]);
      } finally {
        sqlite.close();
      }
    }

    // Restart on the same database: it comes up and answers.
    server = await startServerProcess(db.env, await freePort(), 'warn');
    const again = await fetch(`${server.url}/api/check/8?log=false`, { method: 'POST', headers: { authorization: loaded.key } });
    expect((await again.json()).status).toBe('AUTHORISED');
    expect(await server.stop('SIGTERM')).toBe(0);
    server = undefined;

    // Every license and product exactly as before, except the counters the load moved.
    const after = {
      licenses: await cli(db.env, ['license', 'list', '--limit', '10000']),
      products: await cli(db.env, ['product', 'list']),
    };
    expect(after.products).toEqual(before.products);
    const counters = (l: Record<string, unknown>) => {
      const { totalChecks: _t, lastCheckAt: _a, lastIp: _i, ...rest } = l;
      return rest;
    };
    const moved = new Set([loaded.id, silent.id]);
    expect(after.licenses.filter((l: { id: number }) => !moved.has(l.id))).toEqual(before.licenses.filter((l: { id: number }) => !moved.has(l.id)));
    expect(after.licenses.map(counters)).toEqual(before.licenses.map(counters));

    // Previous Auths: nothing invented, nothing old missing.
    const rows: { info: string; status: string }[] = await cli(db.env, ['log', 'list', '--license', String(loaded.id), '--limit', '10000']);
    const present = new Set(rows.map((r) => r.info));
    expect(present.size, 'no row written twice').toBe(rows.length);
    for (const info of present) expect(sent.has(info), `row ${info} was never sent`).toBe(true);
    expect(rows.every((r) => r.status === 'AUTHORISED')).toBe(true);
    const missing = [...answered].filter(([info]) => !present.has(info));
    // At most what the load delivers in ~300 ms (250 ms + a margin for a busy machine), plus slack.
    const allowed = Math.ceil(recentRate * 0.3) + 20;
    const oldest = Math.min(...missing.map(([, at]) => at));
    const report = `${answered.size} answered, ${rows.length} rows, ${missing.length} missing (allowed ${allowed} at ${recentRate}/s)` + (missing.length ? `, oldest missing answered ${killedAt - oldest} ms before the kill` : '');
    console.log(`[crash ${name}] ${report}`);
    expect(missing.length, report).toBeLessThanOrEqual(allowed);
    // And only recent ones. The promise is 250 ms; on a starved machine a batch written while the
    // next one queues can take longer (observed up to ~430 ms on PostgreSQL at load average 12 on
    // 2 cores), so this bound only catches gross loss.
    if (missing.length) expect(killedAt - oldest, report).toBeLessThanOrEqual(1000);

    // The counters travel in the same transaction as the rows: never behind them.
    const show = async (id: number) => (await cli(db.env, ['license', 'show', String(id)])) as { totalChecks: number };
    const total = (await show(loaded.id)).totalChecks;
    expect(total).toBeGreaterThanOrEqual(rows.length);
    // (+1: the check after the restart.)
    expect(total).toBeLessThanOrEqual(sent.size + 1);
    const silentTotal = (await show(silent.id)).totalChecks;
    expect(silentTotal).toBeGreaterThanOrEqual(silentAnswered - allowed);
    expect(await cli(db.env, ['log', 'list', '--license', String(silent.id)])).toEqual([]);
  });
});
