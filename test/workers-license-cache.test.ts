import { afterAll, describe, expect, it } from 'vitest';
import { freePort, runCli, startServerProcess, type ServerProcess } from './helpers/cli.js';
import { createSqlite, type TestDatabase } from './helpers/dialects.js';
import { request } from './helpers/http.js';

async function cli(env: Record<string, string>, args: string[]) {
  const res = await runCli(env, [...args, '--json']);
  if (res.code !== 0) throw new Error(`keyward ${args.join(' ')} failed: ${res.stderr}`);
  return res.json;
}

/** One check on a connection of its own: the cluster's primary hands connections to the workers in turn. */
const check = async (url: string, key: string) =>
  (await request(url, { path: '/api/check/8', headers: { Authorization: key } })).json.status as string;

/** The license cache's counts and the Previous Auths batches written, summed over the workers. */
async function counts(url: string) {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  const read = (name: string) => {
    const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
    if (!m) throw new Error(`no ${name} in /metrics`);
    return Number(m[1]);
  };
  return {
    hits: read('keyward_license_cache_hits_total'),
    misses: read('keyward_license_cache_misses_total'),
    flushes: read('keyward_write_flush_seconds_count'),
  };
}

/**
 * Workers on one SQLite file each write their Previous Auths in batches; those writes must not
 * empty the other workers' license caches (only a change to licenses or products does).
 */
describe('keyward serve --workers 2 on SQLite under check load', () => {
  let db: TestDatabase | undefined;
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.stop('SIGKILL');
    await db?.cleanup();
  });

  it('keeps the license cache (hit rate above 99%) through the workers’ writes, and still sees a CLI change within 1 s', async () => {
    db = await createSqlite();
    const env = { ...db.env, METRICS: 'on' };
    await cli(env, ['product', 'create', '--name', 'Load', '--id', '8']);
    const licenses: { id: number; key: string }[] = [];
    for (let i = 0; i < 6; i++) licenses.push(await cli(env, ['license', 'create', '--product', '8']));
    const keys = licenses.map((l) => l.key);
    server = await startServerProcess(env, await freePort(), 'info', ['--workers', '2']);
    const ready = Date.now() + 20_000;
    while ((server.output().match(/serving license checks/g) ?? []).length < 2 && Date.now() < ready) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((server.output().match(/serving license checks/g) ?? []).length).toBe(2);
    const url = server.url;

    // Each worker reads every key once (four checks in turn per key reach both workers).
    for (const key of keys) for (let i = 0; i < 4; i++) expect(await check(url, key)).toBe('AUTHORISED');

    const before = await counts(url);
    let sent = 0;
    const end = Date.now() + 3000;
    await Promise.all(
      Array.from({ length: 8 }, async (_, lane) => {
        for (let i = lane; Date.now() < end; i++) {
          expect(await check(url, keys[i % keys.length]!)).toBe('AUTHORISED');
          sent++;
        }
      }),
    );
    const after = await counts(url);
    const hits = after.hits - before.hits;
    const misses = after.misses - before.misses;
    expect(hits + misses).toBe(sent);
    // Several batches were written meanwhile (each worker writes within LOG_FLUSH_MS of a check).
    expect(after.flushes - before.flushes).toBeGreaterThanOrEqual(10);
    expect(hits / sent).toBeGreaterThan(0.99);

    // A change through the CLI: within 1 s every worker answers from the new state.
    const target = licenses[0]!;
    await cli(env, ['license', 'update', String(target.id), '--disabled', 'true']);
    const changed = Date.now();
    while ((await check(url, target.key)) !== 'KEY DISABLED') {
      expect(Date.now() - changed).toBeLessThan(1000);
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, Math.max(0, changed + 1000 - Date.now())));
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await check(url, target.key));
    expect(answers).toEqual(Array(6).fill('KEY DISABLED'));
    // The other licenses were not touched by it, and still answer.
    expect(await check(url, licenses[1]!.key)).toBe('AUTHORISED');

    expect(await server.stop('SIGTERM')).toBe(0);
    server = undefined;
  });
});
