import { beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/errors.js';
import { apiClient, errorOf } from './helpers/api.js';
import { ENDPOINTS, fill } from './helpers/api-endpoints.js';
import { request } from './helpers/http.js';
import { eachDialect } from './helpers/suite.js';

const MISSING = 999_999;

/** Wrong input and unknown ids: the right 4xx, the one error shape, never a 500. */
eachDialect('management API: errors', (server) => {
  let token: string;
  let webhookId: number;
  const api = apiClient(server, () => token);

  beforeAll(async () => {
    token = await api.token('all', 'errors');
    webhookId = (await server().services.webhooks.create({ url: 'http://127.0.0.1:9/hook' }, 'test')).id;
    await server().services.products.create({ id: 1, name: 'One' }, 'test');
  });

  describe('schema failures answer 400 invalid_input naming the field', () => {
    it.each(ENDPOINTS.map((e) => [`${e.method} ${e.path}`, e] as const))('%s', async (_, e) => {
      const path = (e.invalid.path ?? fill(e.path, { id: 1 })) + (e.invalid.query ?? '');
      const res = await api.call(e.method, path, { body: e.invalid.body });
      expect(res.status, res.text).toBe(400);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      const error = errorOf(res);
      expect(error.code).toBe('invalid_input');
      expect(error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field: e.invalid.field, message: expect.any(String) })]));
    });
  });

  describe('unknown ids answer 404 with the resource code', () => {
    const withIds = ENDPOINTS.filter((e) => e.notFound);
    it.each(withIds.map((e) => [`${e.method} ${e.path}`, e] as const))('%s', async (_, e) => {
      const ids = e.path.includes('{deliveryId}') ? { id: webhookId, deliveryId: MISSING } : { id: MISSING };
      const res = await api.call(e.method, fill(e.path, ids), { body: e.body });
      expect(res.status, res.text).toBe(404);
      expect(errorOf(res).code).toBe(e.notFound);
    });

    it('a delivery of another webhook is not found under this one', async () => {
      const other = await server().services.webhooks.create({ url: 'http://127.0.0.1:9/other' }, 'test');
      const delivery = await server().services.webhooks.test(other.id, 'test');
      const res = await api.call('GET', `/webhooks/${webhookId}/deliveries/${delivery.id}`);
      expect(errorOf(res).code).toBe('delivery_not_found');
    });
  });

  describe('domain refusals', () => {
    it('409 for an existing product id, a product still in use, a taken username, a duplicate key', async () => {
      expect(errorOf(await api.call('POST', '/products', { body: { id: 1, name: 'Again' } })).code).toBe('product_exists');
      await api.call('POST', '/licenses', { body: { productIds: [1], key: 'DUPLICATE-KEY-1' } });
      const inUse = await api.call('DELETE', '/products/1');
      expect(inUse.status).toBe(409);
      expect(errorOf(inUse).code).toBe('product_in_use');
      await api.call('POST', '/users', { body: { username: 'taken', password: 'password123' } });
      expect(errorOf(await api.call('POST', '/users', { body: { username: 'taken', password: 'password123' } })).code).toBe('username_taken');
      const dup = await api.call('POST', '/licenses', { body: { productIds: [1], key: 'DUPLICATE-KEY-1' } });
      expect(dup.status).toBe(409);
      expect(errorOf(dup).code).toBe('key_exists');
    });

    it('404 for a product or owner a license names but that does not exist', async () => {
      expect(errorOf(await api.call('POST', '/licenses', { body: { productIds: [1, 77] } })).code).toBe('product_not_found');
      expect(errorOf(await api.call('POST', '/licenses', { body: { productIds: [1], owner: 'nobody' } })).code).toBe('user_not_found');
    });

    it.each([
      ['a bad IP', { productIds: [1], ips: ['300.1.1.1'] }],
      ['an impossible date', { productIds: [1], expiresAt: '2027-02-30' }],
      ['a key with a space', { productIds: [1], key: 'has a space in it' }],
    ])('400 for %s, decided by the domain', async (_, body) => {
      const res = await api.call('POST', '/licenses', { body });
      expect(res.status).toBe(400);
      expect(errorOf(res).code).toBe('invalid_input');
    });

    it('400 for a webhook URL that is not http(s), and for a time filter that is not a date', async () => {
      expect(errorOf(await api.call('POST', '/webhooks', { body: { url: 'ftp://example.com/x' } })).code).toBe('invalid_input');
      const res = await api.call('GET', '/checks?from=yesterday');
      expect(errorOf(res)).toMatchObject({ code: 'invalid_input', details: [expect.objectContaining({ field: 'from' })] });
    });

    it('400 for a cursor this list did not hand out', async () => {
      const res = await api.call('GET', '/licenses?cursor=bm90LWEtY3Vyc29y');
      expect(errorOf(res).code).toBe('invalid_input');
      const other = await api.call('GET', `/users?cursor=${Buffer.from('c:5').toString('base64url')}`);
      expect(errorOf(other)).toMatchObject({ code: 'invalid_input', details: [expect.objectContaining({ field: 'cursor' })] });
    });
  });

  describe('requests the API cannot read', () => {
    it('unknown paths and methods answer 404 route_not_found in the same shape', async () => {
      for (const [method, path] of [
        ['GET', '/nothing-here'],
        ['PUT', '/licenses/1'],
        ['GET', '/licenses/1/extra'],
        ['POST', '/checks'],
      ]) {
        const res = await api.call(method!, path!);
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(errorOf(res).code).toBe('route_not_found');
      }
      const bare = await api.call('GET', '/nothing-here', { token: null });
      expect(errorOf(bare).code).toBe('route_not_found');
    });

    it('malformed JSON is 400, a form body is 415, an oversized body is 413', async () => {
      const broken = await api.call('POST', '/licenses', { body: '{"productIds": [1', headers: { 'content-type': 'application/json' } });
      expect(broken.status).toBe(400);
      expect(errorOf(broken).code).toBe('invalid_input');
      const form = await api.call('POST', '/licenses', { body: 'productIds=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(form.status).toBe(415);
      expect(errorOf(form).code).toBe('unsupported_media_type');
      const big = await api.call('POST', '/licenses', { body: { productIds: [1], note: 'x'.repeat(70_000) } });
      expect(big.status).toBe(413);
      expect(errorOf(big).code).toBe('payload_too_large');
    });

    it('a missing body where one is required is 400', async () => {
      const res = await api.call('POST', '/licenses', { headers: { 'content-type': 'application/json' } });
      expect(res.status).toBe(400);
      expect(errorOf(res).code).toBe('invalid_input');
    });

    it('odd input never causes a 500', async () => {
      const junk: unknown[] = [null, [], 'text', 0, true, { productIds: 'all' }, { productIds: [1e308] }, { __proto__: { admin: true } }, { name: '\u0000' }];
      const queries = ['?limit=-1', '?limit=1e3', '?limit=0x10', '?cursor=%00', '?q=%00', '?owner=a%00b', '?from=9999-99-99', '?productId=99999999999999999999', '?q=%25_%5C'];
      for (const e of ENDPOINTS) {
        for (const body of e.method === 'GET' || e.method === 'DELETE' ? [undefined] : junk) {
          const res = await api.call(e.method, fill(e.path, { id: 1 }), { body: body === undefined ? undefined : JSON.stringify(body) });
          expect(res.status, `${e.method} ${e.path} ${JSON.stringify(body)}: ${res.text}`).toBeLessThan(500);
          errorOf(res.status >= 400 ? res : { ...res, json: { error: { code: 'ok', message: 'ok' } } });
        }
        if (e.method === 'GET') {
          for (const q of queries) {
            const res = await api.call('GET', fill(e.path, { id: 1 }) + q);
            expect(res.status, `${e.path}${q}: ${res.text}`).toBeLessThan(500);
          }
        }
      }
    });

    it('every code it answers is in the closed list, with its status', async () => {
      const res = await api.call('GET', '/licenses/999999');
      expect(ERROR_CODES[errorOf(res).code as keyof typeof ERROR_CODES]).toBe(res.status);
    });
  });

  it('the rest of the server keeps its own 404 shape', async () => {
    const res = await request(server().url, { method: 'GET', path: '/api/v2/licenses' });
    expect(res.status).toBe(404);
    expect(res.json.status).toBe('NOT FOUND');
  });
});
