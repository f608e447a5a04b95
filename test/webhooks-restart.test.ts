import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { openServices } from '../src/services.js';
import { freePort, startServerProcess } from './helpers/cli.js';
import { describeEachDialect, type TestDatabase } from './helpers/dialects.js';
import { request } from './helpers/http.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { until } from './helpers/wait.js';
import { startReceiver, type Receiver } from './helpers/webhook-receiver.js';

// Fast retries for the tests.
const FAST = { WEBHOOK_RETRY_BASE_MS: '100', WEBHOOK_POLL_MS: '50' };

/** The queue lives in the database: restarts lose nothing, and several instances send each delivery once. */
describeEachDialect('webhooks across restarts and server instances ($name)', (create) => {
  let db: TestDatabase;
  let receiver: Receiver;
  const servers: TestServer[] = [];
  const start = async () => {
    const s = await startTestServer(db, FAST);
    servers.push(s);
    return s;
  };

  beforeAll(async () => {
    db = await create();
    receiver = await startReceiver();
    const { services: setup } = await openServices(loadConfig(db.env, { dotenv: false }));
    await setup.products.create({ id: 8, name: 'Script' }, 'test');
    await setup.close();
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
    // Each test starts with no endpoints (and so no deliveries) left by the one before.
    await (await openServicesFor(db)).use(async (s) => {
      for (const w of await s.webhooks.list()) await s.webhooks.delete(w.id, 'test');
    });
    receiver.received.length = 0;
    receiver.respond = () => 200;
  });
  afterAll(async () => {
    await receiver?.close();
    await db?.cleanup();
  });

  it('a restart in between loses no delivery, nor an event queued while no server runs', async () => {
    receiver.respond = () => 500;
    const first = await start();
    const hook = await first.services.webhooks.create({ url: receiver.url }, 'test');
    const license = await first.services.licenses.create({ productIds: [8] }, 'test');
    await receiver.waitFor((r) => r.length >= 1);
    await first.close();
    servers.length = 0;

    // No server running: a CLI-like process changes the license; the event waits in the database.
    const { services: cli } = await openServices(loadConfig(db.env, { dotenv: false }));
    await cli.licenses.update(license.id, { note: 'changed while the server was down' }, 'cli:test');
    await cli.close();
    const pending = await (await openServicesFor(db)).use((s) => s.webhooks.deliveries(hook.id));
    expect(pending.map((d) => [d.event, d.status])).toEqual([
      ['license.updated', 'pending'],
      ['license.created', 'pending'],
    ]);

    receiver.respond = () => 200;
    const second = await start();
    await receiver.waitFor((r) => r.filter((x) => x.status === 200).length === 2);
    const delivered = receiver.received.filter((x) => x.status === 200).map((x) => x.json.type).sort();
    expect(delivered).toEqual(['license.created', 'license.updated']);
    // The receiver answered; the outcome is recorded right after.
    const log = await until(() => second.services.webhooks.deliveries(hook.id), (l) => l.every((d) => d.status === 'delivered'));
    expect(log.map((d) => d.status)).toEqual(['delivered', 'delivered']);
    expect(log.find((d) => d.event === 'license.created')!.attempts).toBeGreaterThanOrEqual(2);
  });

  it('a delivery claimed by an instance that died is sent once its claim runs out', async () => {
    const { services: setup, internal } = await openServices(loadConfig(db.env, { dotenv: false }));
    const hook = await setup.webhooks.create({ url: receiver.url, events: ['license.deleted'] }, 'test');
    const license = await setup.licenses.create({ productIds: [8] }, 'test');
    await setup.licenses.delete(license.id, 'test');
    const [row] = await internal.storage.db.selectFrom('webhook_deliveries').selectAll().where('endpoint_id', '=', hook.id).execute();
    const claimEnds = Date.now() + 600;
    await internal.storage.db.updateTable('webhook_deliveries').set({ locked_until: claimEnds, attempts: 1 }).where('id', '=', row!.id).execute();
    await setup.close();

    const server = await start();
    await receiver.waitFor((r) => r.length === 1);
    expect(receiver.received[0]!.time).toBeGreaterThanOrEqual(claimEnds - 50);
    expect(receiver.received[0]!.headers['x-keyward-delivery']).toBe(String(row!.id));
    const delivery = await until(() => server.services.webhooks.delivery(hook.id, row!.id), (d) => d.status === 'delivered');
    expect(delivery.attempts).toBe(2);
  });

  it('keeps finished deliveries WEBHOOK_LOG_DAYS days (30), and pending ones until they finish', async () => {
    const { services: setup, internal } = await openServices(loadConfig(db.env, { dotenv: false }));
    receiver.respond = () => 500;
    const hook = await setup.webhooks.create({ url: receiver.url, events: ['license.created'] }, 'test');
    for (let i = 0; i < 3; i++) await setup.licenses.create({ productIds: [8] }, 'test');
    const rows = await internal.storage.db.selectFrom('webhook_deliveries').select('id').where('endpoint_id', '=', hook.id).orderBy('id').execute();
    const old = Date.now() - 31 * 86_400_000;
    const set = (id: number, status: 'pending' | 'delivered' | 'failed', updatedAt: number) =>
      internal.storage.db.updateTable('webhook_deliveries').set({ status, updated_at: updatedAt, next_attempt_at: Date.now() + 3600_000 }).where('id', '=', id).execute();
    await set(rows[0]!.id, 'delivered', old);
    await set(rows[1]!.id, 'failed', old);
    await set(rows[2]!.id, 'pending', old);
    await setup.close();

    const server = await start();
    const left = await until(() => server.services.webhooks.deliveries(hook.id), (l) => l.length === 1);
    expect(left.map((d) => [d.id, d.status])).toEqual([[rows[2]!.id, 'pending']]);
  });

  it('two instances on one database send each delivery exactly once', async () => {
    // The second instance is its own process, as in production (SQLite allows one writer per process at a time).
    const a = await start();
    const b = await startServerProcess({ ...db.env, WEBHOOK_RETRY_BASE_MS: '100', WEBHOOK_POLL_MS: '50' }, await freePort(), 'warn');
    try {
      const hook = await a.services.webhooks.create({ url: receiver.url, events: ['license.created'] }, 'test');
      const token = (await a.services.tokens.create({ name: 'two-instances', scopes: ['licenses:write'] }, 'test')).token;
      const n = 30;
      const issue = (url: string) => request(url, { path: '/api/v1/licenses', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"productIds":[8]}' });
      const answers = await Promise.all(Array.from({ length: n }, (_, i) => issue(i % 2 ? a.url : b.url)));
      expect(answers.map((r) => r.status)).toEqual(Array(n).fill(201));
      await receiver.waitFor((r) => r.length >= n, 20_000);
      await new Promise((r) => setTimeout(r, 500));
      const ids = receiver.received.map((r) => r.headers['x-keyward-delivery']);
      expect(ids).toHaveLength(n);
      expect(new Set(ids).size).toBe(n);
      const log = await until(() => a.services.webhooks.deliveries(hook.id, { limit: 100 }), (l) => l.every((d) => d.status === 'delivered'));
      expect(log.filter((d) => d.status === 'delivered' && d.attempts === 1)).toHaveLength(n);
    } finally {
      expect(await b.stop()).toBe(0);
    }
  });
});

/** A short-lived services instance (as a CLI run has) for reading the database between servers. */
async function openServicesFor(db: TestDatabase) {
  const { services } = await openServices(loadConfig(db.env, { dotenv: false }));
  return {
    async use<T>(work: (s: typeof services) => Promise<T>): Promise<T> {
      try {
        return await work(services);
      } finally {
        await services.close();
      }
    },
  };
}

