import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '../src/licensing/token-service.js';
import { apiClient, errorOf } from './helpers/api.js';
import { ENDPOINTS, fill } from './helpers/api-endpoints.js';
import { eachDialect } from './helpers/suite.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Authentication and authorisation on every endpoint, and secrets that never come back. */
eachDialect('management API: security', (server) => {
  let all: string;
  const api = apiClient(server, () => all);
  const db = () => server().internal.storage.db;

  beforeAll(async () => {
    all = await api.token('all', 'admin-bot');
    await server().services.products.create({ id: 1, name: 'One' }, 'test');
  });

  describe('without a valid token every endpoint answers 401', () => {
    it.each(ENDPOINTS.map((e) => [`${e.method} ${e.path}`, e] as const))('%s', async (_, e) => {
      for (const authorization of [undefined, 'Bearer', 'Bearer kw_not-a-real-token', `Basic ${Buffer.from('a:b').toString('base64')}`, `Bearer kw_${'A'.repeat(43)}`]) {
        const res = await api.call(e.method, fill(e.path, { id: 1 }), { token: null, body: e.body, headers: authorization ? { authorization } : {} });
        expect(res.status, `${authorization}: ${res.text}`).toBe(401);
        expect(errorOf(res).code).toBe('unauthorized');
        expect(res.headers['www-authenticate']).toBe('Bearer');
      }
    });
  });

  describe('a token without the scope gets 403 on every endpoint, before its input is looked at', () => {
    let others: Map<string, string>;
    beforeAll(async () => {
      others = new Map();
      for (const scope of SCOPES) others.set(scope, await api.token(SCOPES.filter((s) => s !== scope)));
    });
    it.each(ENDPOINTS.map((e) => [`${e.method} ${e.path} needs ${e.scope}`, e] as const))('%s', async (_, e) => {
      const token = others.get(e.scope)!;
      const res = await api.call(e.method, fill(e.path, { id: 1 }), { token, body: e.body });
      expect(res.status, res.text).toBe(403);
      expect(errorOf(res)).toEqual({ code: 'forbidden', message: `this token lacks the scope ${e.scope}`, details: { requiredScope: e.scope } });
      const invalid = await api.call(e.method, (e.invalid.path ?? fill(e.path, { id: 1 })) + (e.invalid.query ?? ''), { token, body: e.invalid.body });
      expect(invalid.status).toBe(403);
    });

    it('read does not imply write, nor write read', async () => {
      const reader = await api.token(['licenses:read']);
      expect((await api.call('GET', '/licenses', { token: reader })).status).toBe(200);
      expect((await api.call('POST', '/licenses', { token: reader, body: { productIds: [1] } })).status).toBe(403);
      const writer = await api.token(['licenses:write']);
      expect((await api.call('POST', '/licenses', { token: writer, body: { productIds: [1] } })).status).toBe(201);
      expect((await api.call('GET', '/licenses', { token: writer })).status).toBe(403);
    });
  });

  describe('tokens', () => {
    it('a revoked token stops working at once', async () => {
      const token = await api.token(['products:read'], 'to-revoke');
      expect((await api.call('GET', '/products', { token })).status).toBe(200);
      const row = await db().selectFrom('api_tokens').select('id').where('name', '=', 'to-revoke').executeTakeFirstOrThrow();
      await server().services.tokens.revoke(row.id, 'test');
      const res = await api.call('GET', '/products', { token });
      expect(res.status).toBe(401);
      expect(errorOf(res).code).toBe('unauthorized');
    });

    it('are stored only as SHA-256 digests, and never listed', async () => {
      const token = await api.token(['products:read'], 'digest-check');
      const rows = await db().selectFrom('api_tokens').selectAll().execute();
      const row = rows.find((r) => r.name === 'digest-check')!;
      expect(row.token_digest).toBe(sha256(token));
      expect(JSON.stringify(rows)).not.toContain(token);
      expect(JSON.stringify(rows)).not.toContain(token.slice(9));
      const listed = JSON.stringify(await server().services.tokens.list({ includeRevoked: true }));
      expect(listed).not.toContain(token);
      expect(listed).toContain(token.slice(0, 9));
    });

    it('a new token name must be unique among live tokens; revoked names can be reused', async () => {
      await expect(server().services.tokens.create({ name: 'admin-bot', scopes: ['logs:read'] }, 'test')).rejects.toMatchObject({ code: 'token_name_taken' });
      const reused = await server().services.tokens.create({ name: 'to-revoke', scopes: ['logs:read'] }, 'test');
      expect(reused.name).toBe('to-revoke');
    });

    it('unknown scopes are refused', async () => {
      await expect(server().services.tokens.create({ name: 'bad', scopes: 'licenses:admin' }, 'test')).rejects.toMatchObject({ code: 'invalid_input' });
      await expect(server().services.tokens.create({ name: 'bad', scopes: '' }, 'test')).rejects.toMatchObject({ code: 'invalid_input' });
    });
  });

  describe('secrets at rest and in answers', () => {
    it('webhook secrets are stored encrypted and shown only at creation', async () => {
      const created = await api.call('POST', '/webhooks', { body: { url: 'http://127.0.0.1:9/x', secret: 'my-own-secret-0123456789' } });
      expect(created.json.secret).toBe('my-own-secret-0123456789');
      const rows = await db().selectFrom('webhook_endpoints').selectAll().execute();
      expect(JSON.stringify(rows)).not.toContain('my-own-secret-0123456789');
      for (const path of ['/webhooks', `/webhooks/${created.json.id}`]) {
        expect((await api.call('GET', path)).text).not.toContain('my-own-secret');
      }
      const audit = await api.call('GET', `/audit?targetType=webhook&targetId=${created.json.id}`);
      expect(audit.text).not.toContain('my-own-secret');
    });

    it('an idempotent answer holding a clear key is stored encrypted', async () => {
      const res = await api.call('POST', '/licenses', { body: { productIds: [1] }, headers: { 'idempotency-key': 'secret-check' } });
      const rows = await db().selectFrom('idempotency_keys').selectAll().execute();
      expect(rows.length).toBeGreaterThan(0);
      expect(JSON.stringify(rows)).not.toContain(res.json.key);
    });

    it('error messages never carry a key pasted in the wrong place', async () => {
      const { key } = (await api.call('POST', '/licenses', { body: { productIds: [1] } })).json;
      const answers = [
        await api.call('GET', `/licenses/${key}`),
        await api.call('GET', `/licenses?owner=${key}`),
        await api.call('POST', '/licenses', { body: { productIds: [1], key } }),
        await api.call('POST', '/licenses', { body: { productIds: [1], owner: key } }),
        await api.call('GET', `/audit?actor=${key}`),
        await api.call('POST', '/webhooks', { body: { url: 'http://127.0.0.1:9/x', events: [key] } }),
      ];
      for (const res of answers) expect(res.text).not.toContain(key);
      expect(answers[2]!.status).toBe(409);
    });

    it('a license key is not an API token', async () => {
      const { key } = (await api.call('POST', '/licenses', { body: { productIds: [1] } })).json;
      expect((await api.call('GET', '/licenses', { token: key })).status).toBe(401);
    });
  });
});
