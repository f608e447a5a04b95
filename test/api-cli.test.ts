import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient } from './helpers/api.js';
import { runCli } from './helpers/cli.js';
import { describeEachDialect } from './helpers/dialects.js';
import { API_TOKEN } from './helpers/patterns.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/** `keyward token …` and `keyward webhook …`, through the built CLI, against a running server's database. */
describeEachDialect('keyward token / webhook CLI ($name)', (create) => {
  let server: TestServer;
  const api = apiClient(() => server);
  const cli = (args: string[]) => runCli(server.db.env, args);

  beforeAll(async () => {
    server = await startTestServer(await create());
  });
  afterAll(async () => {
    await server?.close();
    await server?.db.cleanup();
  });

  describe('token', () => {
    let id: number;
    let token: string;

    it('create --json prints exactly {id, name, scopes, token}; the token works at once', async () => {
      const res = await cli(['token', 'create', '--name', 'FaxStore', '--scopes', 'licenses:write,licenses:read', '--json']);
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      expect(Object.keys(res.json)).toEqual(['id', 'name', 'scopes', 'token']);
      expect(res.json).toMatchObject({ name: 'FaxStore', scopes: ['licenses:read', 'licenses:write'] });
      expect(res.json.token).toMatch(API_TOKEN);
      ({ id, token } = res.json);
      expect((await api.call('GET', '/licenses', { token })).status).toBe(200);
      expect((await api.call('GET', '/products', { token })).status).toBe(403);
    });

    it('create without --json shows the token once, with how to send it', async () => {
      const res = await cli(['token', 'create', '--name', 'bot', '--scopes', 'logs:read']);
      expect(res.code).toBe(0);
      expect(res.stdout).toMatch(/token: +kw_[A-Za-z0-9_-]{43} +\(shown this once/);
      expect(res.stdout).toContain('Authorization: Bearer');
    });

    it('list shows names, scopes, prefix and last use, never the token', async () => {
      await api.call('GET', '/licenses', { token });
      await server.services.tokens.flushUsage();
      const res = await cli(['token', 'list', '--json']);
      expect(res.code).toBe(0);
      const mine = res.json.find((t: any) => t.id === id);
      expect(mine).toMatchObject({ name: 'FaxStore', prefix: token.slice(0, 9), revokedAt: null, createdBy: expect.stringMatching(/^cli/) });
      expect(mine.lastUsedAt).toEqual(expect.any(String));
      expect(res.stdout).not.toContain(token);
      expect((await cli(['token', 'list'])).stdout).toContain('FaxStore');
    });

    it('revoke makes the running server refuse the token within a second', async () => {
      const res = await cli(['token', 'revoke', String(id), '--json']);
      expect(res.code).toBe(0);
      expect(res.json.revokedAt).toEqual(expect.any(String));
      let status = 200;
      for (let i = 0; i < 40 && status !== 401; i++) {
        await new Promise((r) => setTimeout(r, 50));
        status = (await api.call('GET', '/licenses', { token })).status;
      }
      expect(status).toBe(401);
      expect((await cli(['token', 'list', '--json'])).json.find((t: any) => t.id === id)).toBeUndefined();
      expect((await cli(['token', 'list', '--all', '--json'])).json.find((t: any) => t.id === id).revokedAt).toEqual(expect.any(String));
      const audit = await server.services.logs.audit({ targetType: 'token' });
      expect(audit.map((a) => a.action)).toEqual(expect.arrayContaining(['token.created', 'token.revoked']));
    });

    it('errors are one line on stderr and exit code 1', async () => {
      for (const args of [
        ['token', 'create', '--name', 'x', '--scopes', 'licenses:admin'],
        ['token', 'create', '--name', 'bot', '--scopes', 'logs:read'],
        ['token', 'revoke', '999999'],
        ['token', 'revoke', String(id)],
      ]) {
        const res = await cli(args);
        expect(res.code, args.join(' ')).toBe(1);
        expect(res.stderr).toMatch(/^keyward: [^\n]+\n$/);
        expect(res.stdout).toBe('');
      }
    });
  });

  describe('webhook', () => {
    it('create prints the secret once; list and delete', async () => {
      const created = await cli(['webhook', 'create', '--url', 'https://shop.example.com/hooks/keyward', '--events', 'license.created,check.failed', '--description', 'shop', '--json']);
      expect(created.code, created.stderr).toBe(0);
      expect(created.json).toMatchObject({ url: 'https://shop.example.com/hooks/keyward', events: ['license.created', 'check.failed'], description: 'shop', active: true });
      expect(created.json.secret).toMatch(/^whsec_/);
      const list = await cli(['webhook', 'list', '--json']);
      expect(list.json).toEqual([{ ...created.json, secret: undefined }].map(({ secret: _s, ...w }) => w));
      expect(list.stdout).not.toContain(created.json.secret);
      const deliveries = await cli(['webhook', 'deliveries', String(created.json.id), '--json']);
      expect(deliveries.json).toEqual([]);
      const deleted = await cli(['webhook', 'delete', String(created.json.id), '--json']);
      expect(deleted.json).toEqual({ ok: true });
      expect((await cli(['webhook', 'list', '--json'])).json).toEqual([]);
    });

    it('refuses bad URLs and events in one line', async () => {
      for (const args of [
        ['webhook', 'create', '--url', 'ftp://example.com/x'],
        ['webhook', 'create', '--url', 'https://example.com/x', '--events', 'license.exploded'],
        ['webhook', 'delete', '12345'],
      ]) {
        const res = await cli(args);
        expect(res.code).toBe(1);
        expect(res.stderr).toMatch(/^keyward: [^\n]+\n$/);
      }
    });
  });
});
