import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiClient, errorOf } from './helpers/api.js';
import { freePort, startServerProcess, type ServerProcess } from './helpers/cli.js';
import { describeEachDialect } from './helpers/dialects.js';
import { request } from './helpers/http.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { eachDialect } from './helpers/suite.js';

const LIMITED = { API_RATE_LIMIT: '5' };

eachDialect('management API: rate limit per token', (server) => {
  const api = apiClient(server);
  let first: string;
  let second: string;

  beforeAll(async () => {
    first = await api.token(['products:read']);
    second = await api.token(['products:read']);
  });

  it('answers 429 in the error shape after API_RATE_LIMIT requests a minute; other tokens are unaffected', async () => {
    for (let i = 0; i < 5; i++) expect((await api.call('GET', '/products', { token: first })).status).toBe(200);
    const limited = await api.call('GET', '/products', { token: first });
    expect(limited.status).toBe(429);
    expect(errorOf(limited).code).toBe('rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await api.call('GET', '/products', { token: second })).status).toBe(200);
  });

  it('counts callers without a token by IP', async () => {
    let last = 0;
    for (let i = 0; i < 6; i++) last = (await api.call('GET', '/products', { token: null })).status;
    expect(last).toBe(429);
  });
}, LIMITED);

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

describeEachDialect('management API: rate limit shared through REDIS_URL ($name)', (create) => {
  let a: TestServer | undefined;
  let b: ServerProcess | undefined;
  let skip = false;

  beforeAll(async () => {
    const probe = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      await probe.ping();
    } catch {
      if (process.env.CI) throw new Error(`Redis at ${REDIS_URL} is unreachable; CI requires it`);
      console.warn(`[keyward tests] No Redis at ${REDIS_URL}: skipping the shared API rate-limit suite.`);
      skip = true;
      return;
    } finally {
      probe.disconnect();
    }
    const db = await create();
    a = await startTestServer(db, { ...LIMITED, REDIS_URL });
    // The second instance is its own process, as in production.
    b = await startServerProcess({ ...db.env, ...LIMITED, REDIS_URL }, await freePort(), 'warn');
  });
  afterAll(async () => {
    await b?.stop();
    await a?.close();
    await a?.db.cleanup();
  });

  it('two instances count one token against one limit', async (ctx) => {
    if (skip) ctx.skip();
    const token = (await a!.services.tokens.create({ name: 'shared', scopes: ['products:read'] }, 'test')).token;
    const get = (url: string) => request(url, { method: 'GET', path: '/api/v1/products', headers: { authorization: `Bearer ${token}` } });
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await get(i % 2 ? b!.url : a!.url)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
  });
});
