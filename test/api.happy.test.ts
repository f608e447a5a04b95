import { beforeAll, describe, expect, it } from 'vitest';
import { apiClient } from './helpers/api.js';
import { request } from './helpers/http.js';
import { ISO_TIME, LICENSE_KEY } from './helpers/patterns.js';
import { AUTHORISED, eachDialect, KEY_NOT_FOUND } from './helpers/suite.js';

const LICENSE_FIELDS = ['id', 'productIds', 'owner', 'active', 'disabled', 'ipLocked', 'ips', 'expiresAt', 'policyId', 'maxMachines', 'firstUseDays', 'entitlements', 'uses', 'maxUses', 'note', 'totalChecks', 'lastCheckAt', 'lastIp', 'createdAt', 'updatedAt'];

/** Every /api/v1 endpoint doing its job, through the real server, on both dialects. */
eachDialect('management API: happy paths', (server) => {
  let token: string;
  const api = apiClient(server, () => token);
  const check = (key: string, productId = 8) => request(server().url, { path: `/api/check/${productId}`, headers: { Authorization: key } });

  beforeAll(async () => {
    token = await api.token('all', 'shop');
  });

  describe('products', () => {
    it('creates, shows, lists a page at a time, updates and deletes', async () => {
      const created = await api.call('POST', '/products', { body: { id: 8, name: 'My Script', description: 'FaxStore item 8' } });
      expect(created.status).toBe(201);
      expect(created.json).toMatchObject({ id: 8, name: 'My Script', description: 'FaxStore item 8' });
      expect(created.json.createdAt).toMatch(ISO_TIME);
      const next = await api.call('POST', '/products', { body: { name: 'Next free id' } });
      expect(next.status).toBe(201);
      expect(next.json.id).toBe(9);
      await api.call('POST', '/products', { body: { id: 16, name: 'Bundle part' } });

      expect((await api.call('GET', '/products/8')).json).toEqual(created.json);
      const first = await api.call('GET', '/products?limit=2');
      expect(first.status).toBe(200);
      expect(first.json.items.map((p: any) => p.id)).toEqual([8, 9]);
      expect(first.json.nextCursor).toEqual(expect.any(String));
      const second = await api.call('GET', `/products?limit=2&cursor=${first.json.nextCursor}`);
      expect(second.json).toEqual({ items: [expect.objectContaining({ id: 16 })], nextCursor: null });

      const renamed = await api.call('PATCH', '/products/9', { body: { name: 'Renamed', description: null } });
      expect(renamed.status).toBe(200);
      expect(renamed.json).toMatchObject({ id: 9, name: 'Renamed', description: null });
      const deleted = await api.call('DELETE', '/products/9');
      expect(deleted.status).toBe(204);
      expect(deleted.text).toBe('');
      expect((await api.call('GET', '/products/9')).status).toBe(404);
    });
  });

  describe('licenses', () => {
    let id: number;
    let key: string;

    it('issues a license whose key is in the create answer only, and works at once', async () => {
      const res = await api.call('POST', '/licenses', {
        body: { productIds: [8, 16], ipLocked: false, ips: ['203.0.113.7', '10.0.0.0/8'], expiresAt: '2099-01-31', note: 'order #1001' },
      });
      expect(res.status).toBe(201);
      expect(Object.keys(res.json).sort()).toEqual([...LICENSE_FIELDS, 'key'].sort());
      expect(res.json).toMatchObject({
        productIds: [8, 16],
        owner: null,
        active: true,
        disabled: false,
        ipLocked: false,
        ips: ['203.0.113.7', '10.0.0.0/8'],
        expiresAt: '2099-01-31T00:00:00.000Z',
        note: 'order #1001',
        totalChecks: 0,
        lastCheckAt: null,
        lastIp: null,
      });
      expect(res.json.key).toMatch(LICENSE_KEY);
      ({ id, key } = res.json);
      expect((await check(key)).json).toEqual(AUTHORISED);

      const shown = await api.call('GET', `/licenses/${id}`);
      expect(shown.status).toBe(200);
      expect(Object.keys(shown.json).sort()).toEqual([...LICENSE_FIELDS].sort());
      expect(shown.text).not.toContain(key);
    });

    it('keeps an existing key when one is given (migrations)', async () => {
      const res = await api.call('POST', '/licenses', { body: { productIds: [16], key: 'IMPORTED-KEY-0001' } });
      expect(res.status).toBe(201);
      expect(res.json.key).toBe('IMPORTED-KEY-0001');
      expect((await check('IMPORTED-KEY-0001', 16)).json).toEqual(AUTHORISED);
    });

    it('lists with filters and cursor pagination, never with keys', async () => {
      await server().services.users.create({ username: 'buyer1', password: 'password123' }, 'test');
      const owned = await api.call('POST', '/licenses', { body: { productIds: [8], owner: 'buyer1' } });
      const all = await api.call('GET', '/licenses');
      expect(all.status).toBe(200);
      expect(all.json.items.length).toBeGreaterThanOrEqual(3);
      expect(all.text).not.toContain(key);

      const byProduct = await api.call('GET', '/licenses?productId=16');
      expect(byProduct.json.items.every((l: any) => l.productIds.includes(16))).toBe(true);
      const byOwner = await api.call('GET', '/licenses?owner=buyer1');
      expect(byOwner.json.items.map((l: any) => l.id)).toEqual([owned.json.id]);
      expect((await api.call('GET', '/licenses?ip=203.0.113')).json.items.map((l: any) => l.id)).toEqual([id]);

      const seen: number[] = [];
      let cursor: string | null = null;
      do {
        const res: any = await api.call('GET', `/licenses?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.json.items).toHaveLength(1);
        seen.push(res.json.items[0].id);
        cursor = res.json.nextCursor;
      } while (cursor);
      expect(seen).toEqual(all.json.items.map((l: any) => l.id));
    });

    it('updates only the fields sent; the check sees it at once', async () => {
      const res = await api.call('PATCH', `/licenses/${id}`, { body: { disabled: true, note: null } });
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ id, disabled: true, note: null, ips: ['203.0.113.7', '10.0.0.0/8'], productIds: [8, 16] });
      expect((await check(key)).json.status).toBe('KEY DISABLED');
      const back = await api.call('PATCH', `/licenses/${id}`, { body: { disabled: false, productIds: [8], expiresAt: null, ips: [] } });
      expect(back.json).toMatchObject({ disabled: false, productIds: [8], expiresAt: null, ips: [] });
      expect((await api.call('GET', '/licenses?status=disabled')).json.items).toEqual([]);
    });

    it('regenerates the key: the new one works, the old one is gone', async () => {
      const res = await api.call('POST', `/licenses/${id}/regenerate`);
      expect(res.status).toBe(200);
      expect(res.json.id).toBe(id);
      expect(res.json.key).toMatch(LICENSE_KEY);
      expect(res.json.key).not.toBe(key);
      expect((await check(res.json.key)).json).toEqual(AUTHORISED);
      expect((await check(key)).json).toEqual(KEY_NOT_FOUND);
      key = res.json.key;
    });

    it('deletes a license', async () => {
      const res = await api.call('DELETE', `/licenses/${id}`, { headers: { 'content-type': 'application/json' } });
      expect(res.status).toBe(204);
      expect((await api.call('GET', `/licenses/${id}`)).status).toBe(404);
      expect((await check(key)).json).toEqual(KEY_NOT_FOUND);
    });
  });

  describe('users', () => {
    it('creates (a generated password is shown once), shows, lists, filters and changes the role', async () => {
      const generated = await api.call('POST', '/users', { body: { username: 'staffer', role: 'staff', email: 'staff@example.com' } });
      expect(generated.status).toBe(201);
      expect(generated.json).toMatchObject({ username: 'staffer', role: 'staff', email: 'staff@example.com', disabled: false });
      expect(generated.json.password).toEqual(expect.any(String));
      const given = await api.call('POST', '/users', { body: { username: 'customer2', password: 'a-long-password' } });
      expect(given.status).toBe(201);
      expect(given.json.role).toBe('customer');
      expect(given.json).not.toHaveProperty('password');
      expect(given.text).not.toContain('a-long-password');

      const shown = await api.call('GET', `/users/${generated.json.id}`);
      expect(shown.json).toEqual({ ...generated.json, password: undefined });
      expect(shown.json).not.toHaveProperty('password');
      expect((await api.call('GET', '/users?role=staff')).json.items.map((u: any) => u.username)).toEqual(['staffer']);
      expect((await api.call('GET', '/users?q=custom')).json.items.map((u: any) => u.username)).toEqual(['customer2']);
      const page1 = await api.call('GET', '/users?limit=1');
      expect(page1.json.items).toHaveLength(1);
      const page2 = await api.call('GET', `/users?limit=1&cursor=${page1.json.nextCursor}`);
      expect(page2.json.items[0].id).toBeGreaterThan(page1.json.items[0].id);

      const promoted = await api.call('PATCH', `/users/${given.json.id}`, { body: { role: 'admin', disabled: true } });
      expect(promoted.status).toBe(200);
      expect(promoted.json).toMatchObject({ role: 'admin', disabled: true });
    });
  });

  describe('Previous Auths and the audit log', () => {
    it('lists checks newest first, filtered by license, product, result and time', async () => {
      const { id, key } = (await api.call('POST', '/licenses', { body: { productIds: [16] } })).json;
      const before = new Date(Date.now() - 1000).toISOString();
      await check(key, 16);
      await check(key, 8);
      await check('an-unknown-key-123', 16);
      await server().flush();

      const mine = await api.call('GET', `/checks?licenseId=${id}`);
      expect(mine.status).toBe(200);
      // Newest first: the key asked for a product it does not grant (NOT FOUND), then its own.
      expect(mine.json.items.map((c: any) => [c.status, c.productId])).toEqual([
        ['NOT FOUND', 8],
        ['AUTHORISED', 16],
      ]);
      expect(mine.json.items[1]).toMatchObject({ licenseId: id, ip: '127.0.0.1', time: expect.stringMatching(ISO_TIME) });
      const failed = await api.call('GET', `/checks?status=NOT%20FOUND&productId=16&from=${before}`);
      expect(failed.json.items.length).toBeGreaterThanOrEqual(1);
      expect(failed.json.items.every((c: any) => c.status === 'NOT FOUND' && c.productId === 16)).toBe(true);
      expect((await api.call('GET', `/checks?licenseId=${id}&to=${before}`)).json.items).toEqual([]);

      const page1 = await api.call('GET', '/checks?limit=1');
      const page2 = await api.call('GET', `/checks?limit=1&cursor=${page1.json.nextCursor}`);
      expect(page2.json.items[0].id).toBeLessThan(page1.json.items[0].id);
    });

    it("records every write through a token under the token's name", async () => {
      const res = await api.call('GET', '/audit?actor=token:shop&targetType=license');
      expect(res.status).toBe(200);
      const actions = res.json.items.map((a: any) => a.action);
      expect(actions).toEqual(expect.arrayContaining(['license.created', 'license.updated', 'license.regenerated', 'license.deleted']));
      expect(res.json.items.every((a: any) => a.actor === 'token:shop')).toBe(true);
      const product = await api.call('GET', '/audit?action=product.created&targetId=8');
      expect(product.json.items).toEqual([expect.objectContaining({ actor: 'token:shop', targetType: 'product', targetId: '8' })]);
    });

    it("shows the token's last use", async () => {
      await server().services.tokens.flushUsage();
      const shop = (await server().services.tokens.list()).find((t) => t.name === 'shop');
      expect(shop?.lastUsedAt).toMatch(ISO_TIME);
    });
  });

  describe('webhooks', () => {
    it('registers (secret shown once), shows, lists, updates, rotates, tests, resends and deletes', async () => {
      const created = await api.call('POST', '/webhooks', { body: { url: 'http://127.0.0.1:9/hook', description: 'shop' } });
      expect(created.status).toBe(201);
      expect(created.json).toMatchObject({ url: 'http://127.0.0.1:9/hook', description: 'shop', active: true });
      expect(created.json.events).toEqual(['license.created', 'license.updated', 'license.deleted', 'license.regenerated', 'machine.activated', 'machine.deactivated', 'machine.dead', 'license.usage_limit_reached', 'check.ip_bound']);
      expect(created.json.secret).toMatch(/^whsec_/);
      const id = created.json.id;

      const shown = await api.call('GET', `/webhooks/${id}`);
      expect(shown.json).not.toHaveProperty('secret');
      expect(shown.text).not.toContain(created.json.secret);
      expect((await api.call('GET', '/webhooks')).json).toEqual({ items: [shown.json], nextCursor: null });

      const updated = await api.call('PATCH', `/webhooks/${id}`, { body: { events: ['license.created', 'check.failed'], active: false } });
      expect(updated.json).toMatchObject({ events: ['license.created', 'check.failed'], active: false });
      await api.call('PATCH', `/webhooks/${id}`, { body: { active: true } });

      const rotated = await api.call('POST', `/webhooks/${id}/rotate-secret`);
      expect(rotated.status).toBe(200);
      expect(rotated.json.secret).toMatch(/^whsec_/);
      expect(rotated.json.secret).not.toBe(created.json.secret);

      const tested = await api.call('POST', `/webhooks/${id}/test`);
      expect(tested.status).toBe(202);
      expect(tested.json).toMatchObject({ webhookId: id, event: 'webhook.test', status: 'pending', payload: { type: 'webhook.test', data: { webhookId: id } } });

      const log = await api.call('GET', `/webhooks/${id}/deliveries`);
      expect(log.status).toBe(200);
      expect(log.json.items.map((d: any) => d.id)).toContain(tested.json.id);
      const one = await api.call('GET', `/webhooks/${id}/deliveries/${tested.json.id}`);
      expect(one.json).toMatchObject({ id: tested.json.id, eventId: tested.json.eventId });

      const resent = await api.call('POST', `/webhooks/${id}/deliveries/${tested.json.id}/resend`);
      expect(resent.status).toBe(202);
      // The worker may already be trying it: the new delivery is pending with at most one attempt.
      expect(resent.json).toMatchObject({ event: 'webhook.test', eventId: tested.json.eventId, status: 'pending' });
      expect(resent.json.attempts).toBeLessThanOrEqual(1);
      expect(resent.json.id).not.toBe(tested.json.id);

      expect((await api.call('DELETE', `/webhooks/${id}`)).status).toBe(204);
      expect((await api.call('GET', `/webhooks/${id}`)).status).toBe(404);
    });
  });
});
