import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, errorOf } from './helpers/api.js';
import { createSqlite } from './helpers/dialects.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { eachDialect } from './helpers/suite.js';

/** A well-formed bearer value that names no token. */
const randomToken = () => `kw_${randomBytes(32).toString('base64url')}`;

describe('management API: the per-IP limit counts unknown tokens', () => {
  let server: TestServer;
  const api = apiClient(() => server);

  beforeAll(async () => {
    server = await startTestServer(await createSqlite());
    // API_RATE_LIMIT is read when the API loads (on its first use): load it now with a limit of 5.
    process.env.API_RATE_LIMIT = '5';
    try {
      await server.features();
    } finally {
      delete process.env.API_RATE_LIMIT;
    }
  });
  afterAll(async () => {
    await server?.close();
    await server?.db.cleanup();
  });

  it('one address sending a different random bearer each time is refused after the limit', async () => {
    const valid = await api.token(['products:read']);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const token = i % 2 ? randomToken() : `kw_short-${i}`;
      statuses.push((await api.call('GET', '/products', { token })).status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    const limited = await api.call('GET', '/products', { token: randomToken() });
    expect(errorOf(limited).code).toBe('rate_limited');
    // Callers without a token share that address's count.
    expect((await api.call('GET', '/products', { token: null })).status).toBe(429);
    // A real token keeps its own count, whoever else shares its address.
    expect((await api.call('GET', '/products', { token: valid })).status).toBe(200);
  });
});

eachDialect('management API: what a reader learns', (server) => {
  let reader: string;
  const api = apiClient(server, () => reader);

  beforeAll(async () => {
    reader = await api.token(['licenses:read'], 'license-reader');
    await server().services.users.create({ username: 'known-buyer', password: 'a-long-password' }, 'test');
  });

  it('a license search by an unknown owner answers exactly like one by an owner without licenses', async () => {
    const known = await api.call('GET', '/licenses?owner=known-buyer');
    const unknown = await api.call('GET', '/licenses?owner=nosuch');
    expect(known.status).toBe(200);
    expect(known.json).toEqual({ items: [], nextCursor: null });
    expect(unknown.status).toBe(known.status);
    expect(unknown.text).toBe(known.text);
  });
});

eachDialect('management API: user search takes underscores and percent signs literally', (server) => {
  let token: string;
  const api = apiClient(server, () => token);
  const found = async (q: string) =>
    ((await api.call('GET', `/users?q=${encodeURIComponent(q)}`)).json.items as { username: string }[]).map((u) => u.username).sort();

  beforeAll(async () => {
    token = await api.token(['users:read'], 'user-reader');
    const users = [
      { username: 'a_b', email: 'p%q@example.com' },
      { username: 'axb', email: 'pxyq@example.com' },
      { username: 'ab', email: 'pq@example.com' },
      { username: 'back', email: 'x\\y@example.com' },
    ];
    for (const u of users) await server().services.users.create({ ...u, password: 'a-long-password' }, 'test');
  });

  it('searching a_b finds a_b and not axb', async () => {
    expect(await found('a_b')).toEqual(['a_b']);
    expect(await found('_')).toEqual(['a_b']);
  });

  it('searching p%q finds p%q@… and not pxyq@…', async () => {
    expect(await found('p%q')).toEqual(['a_b']);
    expect(await found('%')).toEqual(['a_b']);
  });

  it('a backslash is an ordinary character too', async () => {
    expect(await found('x\\y')).toEqual(['back']);
  });
});

eachDialect('management API: Idempotency-Key fingerprints', (server) => {
  let token: string;
  const api = apiClient(server, () => token);
  const create = (key: string, body: string) => api.call('POST', '/licenses', { body, headers: { 'idempotency-key': key } });

  beforeAll(async () => {
    token = await api.token(['licenses:write'], 'store');
    await server().services.products.create({ id: 8, name: 'Script' }, 'test');
    await server().services.products.create({ id: 9, name: 'Other' }, 'test');
  });

  it('the same body with its keys in another order replays the first answer', async () => {
    const first = await create('order-reordered', '{"productIds":[8,9],"note":"order 7","ips":["198.51.100.7"],"ipLocked":true}');
    expect(first.status).toBe(201);
    const again = await create('order-reordered', '{ "ipLocked": true, "ips": ["198.51.100.7"], "note": "order 7", "productIds": [8, 9] }');
    expect(again.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json).toEqual(first.json);
  });

  it('a really different body with the same key is still refused', async () => {
    expect((await create('order-changed', '{"productIds":[8],"note":"order 8"}')).status).toBe(201);
    for (const body of ['{"note":"order 9","productIds":[8]}', '{"productIds":[9],"note":"order 8"}', '{"productIds":[8],"note":"order 8","ipLocked":true}']) {
      const res = await create('order-changed', body);
      expect(res.status, body).toBe(422);
      expect(errorOf(res).code).toBe('idempotency_key_reused');
    }
  });
});
