import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { verify } from '../src/webhooks/signer.js';
import { apiClient } from './helpers/api.js';
import { runCli } from './helpers/cli.js';
import { request } from './helpers/http.js';
import { eachDialect } from './helpers/suite.js';
import { startReceiver, type Received, type Receiver } from './helpers/webhook-receiver.js';

// Fast retries for the tests, and a small check.failed cap to reach.
const ENV = { WEBHOOK_RETRY_BASE_MS: '100', WEBHOOK_POLL_MS: '50', WEBHOOK_CHECK_FAILED_PER_MINUTE: '3' };

const verifies = (secret: string, r: Received) =>
  verify(secret, { timestamp: r.headers['x-keyward-timestamp'] as string, signature: r.headers['x-keyward-webhook-signature'] as string }, r.body);

eachDialect('webhooks: signed deliveries of license and check events', (server) => {
  let token: string;
  let receiver: Receiver;
  let webhook: { id: number; secret: string };
  const api = apiClient(server, () => token);
  const ofType = (type: string) => receiver.received.filter((r) => r.json?.type === type);

  beforeAll(async () => {
    token = await api.token('all', 'shop');
    receiver = await startReceiver();
    await server().services.products.create({ id: 8, name: 'Script' }, 'test');
    const res = await api.call('POST', '/webhooks', { body: { url: receiver.url, events: ['license.created', 'license.updated', 'license.deleted', 'license.regenerated', 'check.ip_bound'] } });
    webhook = res.json;
  });
  afterAll(async () => receiver?.close());
  beforeEach(() => {
    receiver.received.length = 0;
    receiver.respond = () => 200;
  });

  it('sends license.created, signed with HMAC-SHA256 over timestamp + "." + body, never with the key', async () => {
    const created = (await api.call('POST', '/licenses', { body: { productIds: [8], note: 'order 7' } })).json;
    await receiver.waitFor(() => ofType('license.created').length === 1);
    const got = ofType('license.created')[0];
    expect(got!.headers['content-type']).toBe('application/json');
    expect(got!.headers['x-keyward-event']).toBe('license.created');
    expect(got!.headers['user-agent']).toMatch(/^Keyward-Webhooks\//);
    expect(Math.abs(Number(got!.headers['x-keyward-timestamp']) - Date.now() / 1000)).toBeLessThan(30);
    expect(got!.headers['x-keyward-webhook-signature']).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(verifies(webhook.secret, got!)).toBe(true);
    expect(verifies('whsec_wrong-secret', got!)).toBe(false);
    expect(verify(webhook.secret, { timestamp: got!.headers['x-keyward-timestamp'] as string, signature: got!.headers['x-keyward-webhook-signature'] as string }, `${got!.body} `)).toBe(false);
    expect(got!.json).toEqual({ id: expect.any(String), type: 'license.created', createdAt: expect.any(String), data: { license: { ...created, key: undefined } } });
    expect(got!.body).not.toContain(created.key);

    // The outcome is recorded right after the receiver answers.
    let log: any[] = [];
    for (let i = 0; i < 100 && log[0]?.status !== 'delivered'; i++) {
      if (i) await new Promise((r) => setTimeout(r, 50));
      log = (await api.call('GET', `/webhooks/${webhook.id}/deliveries`)).json.items;
    }
    expect(log[0]).toMatchObject({ id: Number(got!.headers['x-keyward-delivery']), event: 'license.created', status: 'delivered', attempts: 1, lastStatusCode: 200, lastError: null });
  });

  it('sends license.updated (with the previous state), license.regenerated and license.deleted', async () => {
    const { id } = (await api.call('POST', '/licenses', { body: { productIds: [8] } })).json;
    await api.call('PATCH', `/licenses/${id}`, { body: { disabled: true } });
    await api.call('POST', `/licenses/${id}/regenerate`);
    await api.call('DELETE', `/licenses/${id}`);
    await receiver.waitFor(() => ['license.updated', 'license.regenerated', 'license.deleted'].every((t) => ofType(t).length === 1));
    const updated = ofType('license.updated')[0]!.json.data;
    expect(updated.previous.disabled).toBe(false);
    expect(updated.license.disabled).toBe(true);
    expect(ofType('license.regenerated')[0]!.json.data.license.id).toBe(id);
    expect(ofType('license.deleted')[0]!.json.data.license.id).toBe(id);
    expect(receiver.received.every((r) => verifies(webhook.secret, r))).toBe(true);
  });

  it('changes made by the CLI (another process) are queued in the database and delivered by the server', async () => {
    const res = await runCli(server().db.env, ['license', 'create', '--product', '8', '--note', 'from the CLI', '--json']);
    expect(res.code, res.stderr).toBe(0);
    await receiver.waitFor(() => ofType('license.created').length === 1);
    const got = ofType('license.created')[0]!;
    expect(got.json.data.license).toMatchObject({ id: res.json.id, note: 'from the CLI' });
    expect(verifies(webhook.secret, got)).toBe(true);
  });

  it('a receiver failing 3 times gets the event on the 4th attempt, after a growing backoff', async () => {
    receiver.respond = (_r, i) => (i < 3 ? 500 : 204);
    await api.call('POST', '/licenses', { body: { productIds: [8], note: 'retry me' } });
    const got = await receiver.waitFor((r) => r.length === 4);
    expect(got.map((r) => r.status)).toEqual([500, 500, 500, 204]);
    expect(new Set(got.map((r) => r.headers['x-keyward-delivery'])).size).toBe(1);
    expect(new Set(got.map((r) => r.body)).size).toBe(1);
    expect(got.every((r) => verifies(webhook.secret, r))).toBe(true);
    const gaps = got.slice(1).map((r, i) => r.time - got[i]!.time);
    // WEBHOOK_RETRY_BASE_MS=100: about 100, 200, 400 ms (±10 % jitter, plus polling).
    expect(gaps[0]).toBeGreaterThanOrEqual(85);
    expect(gaps[1]).toBeGreaterThanOrEqual(175);
    expect(gaps[2]).toBeGreaterThanOrEqual(355);
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.received).toHaveLength(4);
    const delivery = (await api.call('GET', `/webhooks/${webhook.id}/deliveries/${got[0]!.headers['x-keyward-delivery']}`)).json;
    expect(delivery).toMatchObject({ status: 'delivered', attempts: 4, lastStatusCode: 204, lastError: null, nextAttemptAt: null });
  });

  it('records the last error while retrying, and gives up when the retry window ends', async () => {
    receiver.respond = () => 503;
    await api.call('POST', '/licenses', { body: { productIds: [8], note: 'always failing' } });
    const [first] = await receiver.waitFor((r) => r.length >= 1);
    const deliveryId = Number(first!.headers['x-keyward-delivery']);
    await server().internal.storage.db.updateTable('webhook_deliveries').set({ retry_until: Date.now() + 400 }).where('id', '=', deliveryId).execute();
    let delivery: any;
    const deadline = Date.now() + 8000;
    do {
      await new Promise((r) => setTimeout(r, 100));
      delivery = (await api.call('GET', `/webhooks/${webhook.id}/deliveries/${deliveryId}`)).json;
    } while (delivery.status === 'pending' && Date.now() < deadline);
    expect(delivery).toMatchObject({ status: 'failed', lastStatusCode: 503, lastError: 'HTTP 503', nextAttemptAt: null });
    expect(delivery.attempts).toBeGreaterThanOrEqual(2);
    const failed = (await api.call('GET', `/webhooks/${webhook.id}/deliveries?status=failed`)).json.items;
    expect(failed.map((d: any) => d.id)).toContain(deliveryId);

    // Resend: the same event, as a new delivery, to a receiver that works again.
    receiver.respond = () => 200;
    const count = receiver.received.length;
    const resent = (await api.call('POST', `/webhooks/${webhook.id}/deliveries/${deliveryId}/resend`)).json;
    const got = await receiver.waitFor((r) => r.some((x, i) => i >= count && x.status === 200));
    const last = got[got.length - 1]!;
    expect(last.headers['x-keyward-delivery']).toBe(String(resent.id));
    expect(last.json.id).toBe(first!.json.id);
  });

  it('an unreachable receiver is recorded as such and retried', async () => {
    const dead = await startReceiver();
    await dead.close();
    const hook = (await api.call('POST', '/webhooks', { body: { url: dead.url, events: ['license.deleted'] } })).json;
    const { id } = (await api.call('POST', '/licenses', { body: { productIds: [8] } })).json;
    await api.call('DELETE', `/licenses/${id}`);
    let log: any[] = [];
    for (let i = 0; i < 100 && !log[0]?.lastError; i++) {
      await new Promise((r) => setTimeout(r, 50));
      log = (await api.call('GET', `/webhooks/${hook.id}/deliveries`)).json.items;
    }
    expect(log[0]).toMatchObject({ status: 'pending', lastError: 'ECONNREFUSED', lastStatusCode: null });
    await api.call('DELETE', `/webhooks/${hook.id}`);
  });

  it('sends check.ip_bound once when a locked license binds its first caller IP', async () => {
    const { id, key } = (await api.call('POST', '/licenses', { body: { productIds: [8], ipLocked: true } })).json;
    await Promise.all([1, 2, 3].map(() => request(server().url, { path: '/api/check/8', headers: { Authorization: key } })));
    await receiver.waitFor(() => ofType('check.ip_bound').length >= 1);
    const got = ofType('check.ip_bound')[0];
    expect(got!.json.data).toEqual({ licenseId: id, ips: ['127.0.0.1'] });
    expect(verifies(webhook.secret, got!)).toBe(true);
    await new Promise((r) => setTimeout(r, 1500));
    expect(ofType('check.ip_bound')).toHaveLength(1);
  });

  it('sends check.failed only to endpoints that opt in, capped per minute', async () => {
    const noisy = await startReceiver();
    try {
      await api.call('POST', '/webhooks', { body: { url: noisy.url, events: ['check.failed'] } });
      for (let i = 0; i < 6; i++) await request(server().url, { path: '/api/check/8', headers: { Authorization: `unknown-key-${i}-abcdef` } });
      const got = await noisy.waitFor((r) => r.length >= 3);
      expect(got[0]!.json).toMatchObject({ type: 'check.failed', data: { check: { status: 'NOT FOUND', productId: 8, licenseId: null, ip: '127.0.0.1' } } });
      await new Promise((r) => setTimeout(r, 1500));
      expect(noisy.received).toHaveLength(3);
      expect(ofType('check.failed')).toHaveLength(0);
    } finally {
      await noisy.close();
    }
  });

  it('an inactive endpoint gets nothing; the test action reaches an active one whatever it subscribes to', async () => {
    const quiet = await startReceiver();
    try {
      const hook = (await api.call('POST', '/webhooks', { body: { url: quiet.url, events: ['license.created'], active: false } })).json;
      await api.call('POST', '/licenses', { body: { productIds: [8] } });
      await receiver.waitFor(() => ofType('license.created').length === 1);
      await new Promise((r) => setTimeout(r, 300));
      expect(quiet.received).toHaveLength(0);
      expect((await api.call('POST', `/webhooks/${hook.id}/test`)).status).toBe(409);
      await api.call('PATCH', `/webhooks/${hook.id}`, { body: { active: true, events: ['license.deleted'] } });
      await api.call('POST', `/webhooks/${hook.id}/test`);
      const [got] = await quiet.waitFor((r) => r.length === 1);
      expect(got!.json).toMatchObject({ type: 'webhook.test', data: { webhookId: hook.id } });
      expect(verifies(hook.secret, got!)).toBe(true);
    } finally {
      await quiet.close();
    }
  });
}, ENV);
