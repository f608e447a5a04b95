import { afterAll, beforeAll, expect, it } from 'vitest';
import { cli, freePort, runCli, startServerProcess, type ServerProcess } from './helpers/cli.js';
import { describeEachDialect, type TestDatabase } from './helpers/dialects.js';
import { request } from './helpers/http.js';

describeEachDialect('a separate server process ($name)', (create) => {
  let db: TestDatabase;
  let server: ServerProcess | undefined;
  beforeAll(async () => {
    db = await create();
  });
  afterAll(async () => {
    await server?.stop('SIGKILL');
    await db?.cleanup();
  });

  it('sees a CLI change to a license on the next check within 1 s', async () => {
    await cli(db.env, ['product', 'create', '--name', 'Script', '--id', '8']);
    const license = await cli(db.env, ['license', 'create', '--product', '8']);
    server = await startServerProcess(db.env, await freePort());
    const check = async (key: string, product = 8) =>
      (await request(server!.url, { path: `/api/check/${product}`, headers: { Authorization: key } })).json.status as string;
    /** Polls until the answer changes; returns how long that took after the CLI returned. */
    const timeUntil = async (key: string, status: string, product = 8) => {
      const start = Date.now();
      while ((await check(key, product)) !== status) {
        if (Date.now() - start > 3000) throw new Error(`still not ${status} after 3 s`);
        await new Promise((r) => setTimeout(r, 25));
      }
      return Date.now() - start;
    };

    expect(await check(license.key)).toBe('AUTHORISED');
    await cli(db.env, ['license', 'update', String(license.id), '--disabled', 'true']);
    expect(await timeUntil(license.key, 'KEY DISABLED')).toBeLessThan(1000);

    await cli(db.env, ['license', 'update', String(license.id), '--disabled', 'false', '--active', 'false']);
    expect(await timeUntil(license.key, 'NOT ACTIVE')).toBeLessThan(1000);

    const regenerated = await cli(db.env, ['license', 'regenerate', String(license.id)]);
    expect(await timeUntil(license.key, 'NOT FOUND')).toBeLessThan(1000);
    await cli(db.env, ['license', 'update', String(license.id), '--active', 'true']);
    expect(await timeUntil(regenerated.key, 'AUTHORISED')).toBeLessThan(1000);

    // A product and a license created after the server started, both answered within 1 s.
    await cli(db.env, ['product', 'create', '--name', 'Later', '--id', '77']);
    const later = await cli(db.env, ['license', 'create', '--product', '77']);
    expect(await timeUntil(later.key, 'AUTHORISED', 77)).toBeLessThan(1000);

    await cli(db.env, ['license', 'delete', String(later.id)]);
    expect(await timeUntil(later.key, 'NOT FOUND', 77)).toBeLessThan(1000);
  });

  it('loses no write on a graceful stop: N checks, SIGTERM, every log row and counter is there', async () => {
    const license = await cli(db.env, ['license', 'create', '--product', '8']);
    server ??= await startServerProcess(db.env, await freePort());
    const N = 600;
    let logged = 0;
    for (let i = 0; i < N; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, (_, j) => {
          const log = (i + j) % 3 !== 0;
          if (log) logged++;
          return request(server!.url, { path: `/api/check/8?log=${log}&info=n${i + j}`, headers: { Authorization: license.key } });
        }),
      );
    }
    // Stop at once: the last checks' writes are still queued when the signal arrives.
    expect(await server.stop('SIGTERM')).toBe(0);
    expect(server.output()).toContain('every queued write is in the database');
    server = undefined;

    const logs = await cli(db.env, ['log', 'list', '--license', String(license.id), '--limit', '10000']);
    expect(logs).toHaveLength(logged);
    expect(new Set(logs.map((l: { info: string }) => l.info)).size).toBe(logged);
    expect((await cli(db.env, ['license', 'show', String(license.id)])).totalChecks).toBe(N);

    // And a restarted server carries on counting from there.
    server = await startServerProcess(db.env, await freePort());
    await request(server.url, { path: '/api/check/8', headers: { Authorization: license.key } });
    expect(await server.stop('SIGINT')).toBe(0);
    server = undefined;
    expect((await cli(db.env, ['license', 'show', String(license.id)])).totalChecks).toBe(N + 1);
  });

  it('stops gracefully on a signal sent the moment the port answers, start-up still finishing', async () => {
    // /healthz answers before start-up is over (the first-run notice still reads the database).
    // A signal there was once lost while the start-up handler gave way to the running one, and the
    // server ran on; a stop must work from the first answer, and keep every check's write.
    await cli(db.env, ['product', 'create', '--name', 'Signals', '--id', '9']);
    const license = await cli(db.env, ['license', 'create', '--product', '9']);
    const ROUNDS = 6;
    for (let round = 0; round < ROUNDS; round++) {
      server = await startServerProcess(db.env, await freePort());
      await request(server.url, { path: `/api/check/9?info=round${round}`, headers: { Authorization: license.key } });
      // Spread over the rest of start-up (~100 ms here), so some signal lands as it ends.
      await new Promise((r) => setTimeout(r, round * 20));
      const signal = round % 2 ? 'SIGINT' : 'SIGTERM';
      const code = await Promise.race([server.stop(signal), new Promise((r) => setTimeout(() => r('still running after 30 s'), 30_000))]);
      expect(code, `round ${round} (${signal}): ${server.output()}`).toBe(0);
      expect(server.output()).toContain('every queued write is in the database');
      server = undefined;
    }
    const logs = await cli(db.env, ['log', 'list', '--license', String(license.id), '--limit', '100']);
    expect(logs.map((l: { info: string }) => l.info).sort()).toEqual(Array.from({ length: ROUNDS }, (_, i) => `round${i}`).sort());
    expect((await cli(db.env, ['license', 'show', String(license.id)])).totalChecks).toBe(ROUNDS);
  }, 240_000);

  it('a port already taken: exit 1 with one clear line, and nothing else logged as an error', async () => {
    const net = await import('node:net');
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as { port: number }).port;
      const res = await runCli({ ...db.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info' }, ['serve']);
      expect(res.code).toBe(1);
      expect(res.stderr.trim()).toBe(`keyward: listen EADDRINUSE: address already in use 127.0.0.1:${port}`);
      // The app had started its background jobs (webhook delivery, purges) when the listen failed:
      // they stop before the database closes, instead of failing against it.
      const errors = res.stdout.split('\n').filter((line) => /"level":(50|60)/.test(line));
      expect(errors).toEqual([]);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
