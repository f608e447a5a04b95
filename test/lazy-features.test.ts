import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startServer, type RunningServer } from '../src/server.js';
import { createSqlite, type TestDatabase } from './helpers/dialects.js';
import { request } from './helpers/http.js';
import { AUTHORISED, PUBLIC_URL } from './helpers/suite.js';

/**
 * The management API and the dashboard load on the first request that needs them, once, however
 * many such requests arrive together; checks, health and the public key never load them.
 */
describe('the management API and dashboard load on first use', () => {
  let db: TestDatabase;
  let server: RunningServer;
  const lines: string[] = [];
  const loads = () => lines.filter((l) => l.includes('management API and dashboard loaded')).length;

  beforeAll(async () => {
    db = await createSqlite();
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const config = loadConfig({ PUBLIC_URL, ...db.env, HOST: '127.0.0.1', PORT: '0' }, { dotenv: false });
    server = await startServer(config, pino({ level: 'info' }, sink));
  });
  afterAll(async () => {
    await server?.close();
    await db?.cleanup();
  });

  it('answers checks, /healthz and /api/public-key without loading them', async () => {
    await server.services.products.create({ id: 5, name: 'Five' }, 'test');
    const { key } = await server.services.licenses.create({ productIds: [5] }, 'test');
    const check = await request(server.url, { path: '/api/check/5', headers: { authorization: key } });
    expect(check.json).toEqual(AUTHORISED);
    expect((await request(server.url, { method: 'GET', path: '/healthz' })).json).toEqual({ ok: true });
    expect((await request(server.url, { method: 'GET', path: '/api/public-key?format=json' })).status).toBe(200);
    expect(loads()).toBe(0);
  });

  it('loads them once for many first requests at the same time, and each gets its own answer', async () => {
    const answers = await Promise.all([
      request(server.url, { method: 'GET', path: '/api/v1/products' }),
      request(server.url, { method: 'GET', path: '/login' }),
      request(server.url, { method: 'GET', path: '/no/such/page' }),
      request(server.url, { method: 'GET', path: '/api/v1/openapi.json' }),
      request(server.url, { method: 'GET', path: '/login' }),
    ]);
    expect(answers.map((a) => a.status)).toEqual([401, 200, 404, 200, 200]);
    expect(answers[0]!.json.error.code).toBe('unauthorized');
    expect(answers[1]!.headers['content-type']).toMatch(/^text\/html/);
    expect(answers[2]!.json.status).toBe('NOT FOUND');
    expect(answers[3]!.json.openapi).toBe('3.1.0');
    expect(loads()).toBe(1);
    // Later requests use the loaded app.
    expect((await request(server.url, { method: 'GET', path: '/login' })).status).toBe(200);
    expect(loads()).toBe(1);
  });
});
