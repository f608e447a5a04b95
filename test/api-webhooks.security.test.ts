import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, errorOf } from './helpers/api.js';
import { createSqlite } from './helpers/dialects.js';
import { reposOf, startTestServer, type TestServer } from './helpers/server.js';
import { eachDialect } from './helpers/suite.js';
import { until } from './helpers/wait.js';
import { startReceiver, type Receiver } from './helpers/webhook-receiver.js';

// Fast retries for the tests.
const FAST = { WEBHOOK_RETRY_BASE_MS: '100', WEBHOOK_POLL_MS: '50' };

/** A well-formed bearer value that names no token. */
const randomToken = () => `kw_${randomBytes(32).toString('base64url')}`;

describe('management API: the per-IP limit counts unknown tokens', () => {
  let server: TestServer;
  const api = apiClient(() => server);

  beforeAll(async () => {
    server = await startTestServer(await createSqlite(), { ...FAST, API_RATE_LIMIT: '5' });
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
}, FAST);

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
}, FAST);

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
}, FAST);

/** The test helpers allow private webhook targets (their receiver is on 127.0.0.1); these suites use the default. */
const DEFAULT_TARGETS = { ...FAST, WEBHOOK_ALLOW_PRIVATE: 'false' };

eachDialect(
  'webhooks: targets on private addresses are refused by default',
  (server) => {
    let token: string;
    let receiver: Receiver;
    const api = apiClient(server, () => token);

    /** Stores an endpoint as it is, as one registered while WEBHOOK_ALLOW_PRIVATE was on (or before these rules) is. */
    const stored = async (url: string) => {
      const now = Date.now();
      const row = await reposOf(server()).webhooks.insertEndpoint({
        url,
        description: null,
        secret_cipher: server().internal.cipher.encrypt('whsec_test-secret-0123456789'),
        events: JSON.stringify(['license.created']),
        active: 1,
        created_at: now,
        updated_at: now,
      });
      return row.id;
    };
    /** Queues a test event to the endpoint and waits until an attempt's outcome is recorded. */
    const firstAttempt = async (id: number) => {
      expect((await api.call('POST', `/webhooks/${id}/test`)).status).toBe(202);
      const items = await until(
        async () => (await api.call('GET', `/webhooks/${id}/deliveries`)).json.items as any[],
        (list) => list[0] !== undefined && (list[0].lastError !== null || list[0].lastStatusCode !== null),
      );
      return items[0];
    };

    beforeAll(async () => {
      token = await api.token(['webhooks:read', 'webhooks:write'], 'hooks-admin');
      receiver = await startReceiver();
    });
    afterAll(async () => receiver?.close());

    it('private, loopback, link-local and encoded addresses are refused at creation, naming the url', async () => {
      const port = receiver.port;
      const targets = [
        `http://127.0.0.1:${port}/hooks`,
        `http://127.1:${port}/hooks`,
        `http://[::1]:${port}/hooks`,
        `http://[::ffff:127.0.0.1]:${port}/hooks`,
        `http://2130706433:${port}/hooks`,
        `http://0x7f000001:${port}/hooks`,
        `http://0177.0.0.1:${port}/hooks`,
        `http://0.0.0.0:${port}/hooks`,
        `http://[::]:${port}/hooks`,
        `http://localhost:${port}/hooks`,
        `http://hooks.localhost:${port}/hooks`,
        'http://169.254.169.254/latest/meta-data/',
        'http://[fe80::1]/hooks',
        'http://10.0.0.8/hooks',
        'http://172.16.5.4/hooks',
        'http://192.168.1.1/hooks',
        'http://100.64.0.1/hooks',
        'http://[fd12:3456::1]/hooks',
        'http://224.0.0.251/hooks',
        'http://[::ffff:a9fe:a9fe]/hooks',
      ];
      const { id } = (await api.call('POST', '/webhooks', { body: { url: 'https://hooks.example.com/keyward' } })).json;
      for (const url of targets) {
        const created = await api.call('POST', '/webhooks', { body: { url } });
        expect(created.status, url).toBe(400);
        expect(errorOf(created).code).toBe('invalid_input');
        expect(errorOf(created).message).toMatch(/\burl\b.*private/);
        expect((await api.call('PATCH', `/webhooks/${id}`, { body: { url } })).status, url).toBe(400);
      }
      const list = (await api.call('GET', '/webhooks')).json.items as { url: string }[];
      expect(list.map((w) => w.url)).toEqual(['https://hooks.example.com/keyward']);
    });

    it('a URL with a user name or password is refused, naming the url and not echoing it', async () => {
      for (const url of ['https://shop:hunter2-pass@hooks.example.com/keyward', 'https://shop@hooks.example.com/keyward']) {
        const created = await api.call('POST', '/webhooks', { body: { url } });
        expect(created.status, url).toBe(400);
        expect(errorOf(created).code).toBe('invalid_input');
        expect(errorOf(created).message).toMatch(/\burl\b.*(user name|password)/);
        expect(created.text).not.toContain('hunter2-pass');
      }
    });

    it('a target that is private when delivered gets nothing, and the log says the same for an open and a closed port', async () => {
      const port = receiver.port;
      const targets = [
        `http://127.0.0.1:${port}/open`,
        'http://127.0.0.1:9/closed',
        `http://[::ffff:7f00:1]:${port}/mapped`,
        `http://2130706433:${port}/decimal`,
        `http://localhost:${port}/resolves-to-loopback`,
        'http://169.254.169.254/latest/meta-data/',
      ];
      for (const url of targets) {
        const attempt = await firstAttempt(await stored(url));
        expect(attempt, url).toMatchObject({ status: 'pending', lastStatusCode: null, lastError: 'refused: private address' });
      }
      expect(receiver.received).toEqual([]);
    });

    it('credentials stored in an older URL are never shown and never sent', async () => {
      const id = await stored('https://shop:hunter2-pass@hooks.example.com/keyward');
      const shown = await api.call('GET', `/webhooks/${id}`);
      expect(shown.json.url).toBe('https://***@hooks.example.com/keyward');
      expect((await api.call('GET', '/webhooks')).text).not.toContain('hunter2-pass');
      expect(await firstAttempt(id)).toMatchObject({ lastStatusCode: null, lastError: 'refused: credentials in the URL' });
    });
  },
  DEFAULT_TARGETS,
);

describe('webhooks: WEBHOOK_ALLOW_PRIVATE=true lets a receiver on your own network in', () => {
  let server: TestServer;
  let receiver: Receiver;
  const api = apiClient(() => server);

  beforeAll(async () => {
    server = await startTestServer(await createSqlite(), { ...FAST, WEBHOOK_ALLOW_PRIVATE: 'true' });
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver?.close();
    await server?.close();
    await server?.db.cleanup();
  });

  it('a loopback receiver is accepted and gets its deliveries', async () => {
    const token = await api.token(['webhooks:write']);
    const created = await api.call('POST', '/webhooks', { token, body: { url: receiver.url } });
    expect(created.status).toBe(201);
    expect((await api.call('POST', `/webhooks/${created.json.id}/test`, { token })).status).toBe(202);
    await receiver.waitFor((r) => r.length === 1);
    expect(receiver.received[0]!.json.type).toBe('webhook.test');
  });
});
