import { beforeAll, describe, expect, it } from 'vitest';
import { ENDPOINTS } from './helpers/api-endpoints.js';
import { signedIn, TEST_PASSWORD } from './helpers/dashboard.js';
import { registeredRoutes, type RouteEntry } from './helpers/routes.js';
import { storedKey } from './helpers/server.js';
import { eachDialect } from './helpers/suite.js';
import { pageText, WebClient } from './helpers/web-client.js';

/**
 * Attacks that failed against Keyward, walked over every route the app registers (read from
 * Fastify's route tree), so a route added later is attacked the day it lands. What each defence
 * is: docs/threat-model.md and docs/security.md.
 */
eachDialect('held attacks, on every route', (server) => {
  let routes: RouteEntry[];
  let admin: WebClient;
  let mallory: WebClient;
  let victim: { id: number; key: string };
  let ids: { license: number; product: number; user: number; token: number };

  /** What a refused request must leave untouched (sessions' last-seen times move on every page). */
  const snapshot = async () => {
    const db = server().internal.storage.db;
    const rows = await Promise.all(
      (['users', 'products', 'licenses', 'license_products', 'api_tokens', 'webhook_endpoints'] as const).map((t) =>
        db.selectFrom(t).selectAll().execute(),
      ),
    );
    const count = async (t: 'audit_logs' | 'sessions') => (await db.selectFrom(t).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n;
    return JSON.stringify({ rows, audit: String(await count('audit_logs')), sessions: String(await count('sessions')) });
  };

  const fillIds = (path: string) =>
    path
      .replace(/^\/staff\/products\/:id/, `/staff/products/${ids.product}`)
      .replace(/^\/staff\/users\/:id/, `/staff/users/${ids.user}`)
      .replace(/^\/staff\/tokens\/:id/, `/staff/tokens/${ids.token}`)
      .replace(/:id/, String(ids.license));

  beforeAll(async () => {
    routes = registeredRoutes(await server().features());
    admin = await signedIn(server(), 'held-admin', 'admin');
    mallory = await signedIn(server(), 'held-mallory', 'customer');
    await signedIn(server(), 'held-victim', 'customer');
    victim = await server().issue([8], { owner: 'held-victim', ipLocked: true, ips: ['192.0.2.1'], note: 'held-victim-note' });
    const token = await server().services.tokens.create({ name: 'held-token', scopes: ['licenses:read'] }, 'test');
    ids = { license: victim.id, product: 8, user: (await server().services.users.findByUsername('held-victim'))!.id, token: token.id };
  });

  it('finds the dashboard, the API and the customer routes in the route tree (the walk below is not empty)', () => {
    const paths = new Set(routes.map((r) => `${r.method} ${r.path}`));
    for (const known of ['POST /login', 'GET /licenses/:id', 'POST /licenses/:id/reveal', 'GET /staff/licenses', 'GET /api/v1/licenses']) {
      expect(paths, known).toContain(known);
    }
  });

  it('lists every /api/v1 route in the table the authentication and scope suites walk', () => {
    const walked = new Set(ENDPOINTS.map((e) => `${e.method} /api/v1${e.path.replace(/\{(\w+)\}/g, ':$1')}`));
    const missing = routes
      .filter((r) => r.path.startsWith('/api/v1/') && r.path !== '/api/v1/openapi.json')
      .map((r) => `${r.method} ${r.path}`)
      .filter((r) => !walked.has(r));
    expect(missing, 'add these to test/helpers/api-endpoints.ts').toEqual([]);
  });

  it('answers another customer’s license like a missing one (404) on every customer license route, and changes nothing', async () => {
    const own = await server().issue([8], { owner: 'held-mallory' });
    const customerRoutes = routes.filter((r) => r.path.startsWith('/licenses/:id'));
    expect(customerRoutes.length).toBeGreaterThanOrEqual(5);
    const before = await snapshot();
    for (const r of customerRoutes) {
      for (const target of [victim.id, 999_999]) {
        await mallory.get(`/licenses/${own.id}`);
        const path = r.path.replace(':id', String(target));
        const res = r.method === 'GET' ? await mallory.get(path) : await mallory.post(path, { confirm: 'yes', ips: '6.6.6.6', active: '0' });
        expect(res.status, `${r.method} ${path}`).toBe(404);
        expect(res.text).not.toContain(victim.key);
        expect(res.text).not.toContain('held-victim-note');
      }
    }
    expect(await snapshot()).toBe(before);
    expect(await storedKey(server(), victim.id)).toBe(victim.key);
  });

  it('answers a missing or malformed id on every staff route that takes one with the same 404 page, and changes nothing', async () => {
    const idRoutes = routes.filter((r) => r.path.startsWith('/staff/') && r.path.includes(':id'));
    expect(idRoutes.length).toBeGreaterThanOrEqual(15);
    const before = await snapshot();
    for (const r of idRoutes) {
      const pages = new Set<string>();
      for (const id of [999_999, 0, -1, 'abc', '1e3', '99999999999999999999']) {
        const path = r.path.replace(':id', String(id));
        await admin.get('/staff');
        const res = r.method === 'GET' ? await admin.get(path) : await admin.post(path, { confirm: 'yes', name: 'x', role: 'customer', disabled: '1' });
        expect(res.status, `${r.method} ${path}`).toBe(404);
        pages.add(pageText(res.text));
      }
      expect([...pages], `${r.method} ${r.path}: one page for every id`).toHaveLength(1);
      expect([...pages][0]).toMatch(/Not found This \w+ does not exist/);
    }
    expect(await snapshot()).toBe(before);
  });

  it('refuses customers every staff route (403) and sends signed-out visitors to sign in, changing nothing', async () => {
    const staffRoutes = routes.filter((r) => r.path === '/staff' || r.path.startsWith('/staff/'));
    expect(staffRoutes.length).toBeGreaterThanOrEqual(20);
    const anon = new WebClient(server().url, server().services.config.PUBLIC_URL);
    const before = await snapshot();
    for (const r of staffRoutes) {
      const path = fillIds(r.path);
      await mallory.get('/licenses');
      const asCustomer = r.method === 'GET' ? await mallory.get(path) : await mallory.post(path, { confirm: 'yes', role: 'admin', disabled: '1' });
      expect(asCustomer.status, `customer ${r.method} ${path}`).toBe(403);
      expect(asCustomer.text).not.toContain('held-victim-note');
      await anon.get('/login');
      const asNobody = r.method === 'GET' ? await anon.get(path) : await anon.post(path, { confirm: 'yes' });
      expect(asNobody.status, `signed out ${r.method} ${path}`).toBe(303);
      expect(asNobody.location, path).toBe(r.method === 'GET' ? `/login?next=${encodeURIComponent(path)}` : '/login');
    }
    expect(await snapshot()).toBe(before);
  });

  it('refuses every dashboard form post without the CSRF token, or with another session’s, and changes nothing', async () => {
    const posts = routes.filter((r) => r.method === 'POST' && !r.path.startsWith('/api/'));
    expect(posts.length).toBeGreaterThanOrEqual(30);
    await mallory.get('/licenses');
    const foreign = mallory.csrf;
    const before = await snapshot();
    for (const r of posts) {
      const path = fillIds(r.path);
      const fields = { confirm: 'yes', name: 'csrf-evil', role: 'customer', disabled: '1', ips: '6.6.6.6', login: 'held-admin', password: 'x' };
      await admin.get('/account');
      for (const csrf of [false, foreign] as const) {
        const res = await admin.post(path, fields, { csrf });
        expect(res.status, `${r.method} ${path} csrf=${csrf === false ? 'none' : 'foreign'}`).toBe(403);
      }
    }
    expect(await snapshot()).toBe(before);
    expect((await admin.get('/staff')).status).toBe(200);
  });

  it('prints planted markup escaped on every dashboard page (notes, product names, check info, user agents, audit entries)', async () => {
    const xss = '<script>alert("held")</script>';
    const { id, key } = await server().issue([667], { owner: 'held-admin', note: xss });
    await server().services.products.update(667, { name: xss, description: xss }, 'test');
    await fetch(`${server().url}/api/check/667?info=${encodeURIComponent(xss)}`, { method: 'POST', headers: { authorization: key, 'user-agent': xss } });
    await fetch(`${server().url}/api/check/667?info=${encodeURIComponent(xss)}`, { method: 'POST', headers: { authorization: 'held-unknown-key', 'user-agent': xss } });
    await server().flush();
    const pages = routes.filter((r) => r.method === 'GET' && !r.path.startsWith('/api/') && !r.path.startsWith('/docs') && !r.path.startsWith('/auth/'));
    let shown = 0;
    for (const r of pages) {
      const path = fillIds(r.path.replace(/^\/staff\/products\/:id/, '/staff/products/667').replace(/^\/(staff\/)?licenses\/:id/, `/$1licenses/${id}`));
      const res = await admin.get(path);
      expect(res.text, path).not.toContain('<script>alert');
      if (res.text.includes('&lt;script&gt;alert(')) shown++;
    }
    expect(shown, 'pages that showed the planted text, escaped').toBeGreaterThanOrEqual(6);
  });

  describe('open redirects', () => {
    const hostile = ['//evil.example/x', '/\\evil.example', 'https://evil.example/', 'javascript:alert(1)', '/%2F%2Fevil.example', '\t//evil.example'];

    it('sends a user who signs in only to a path on this server, whatever `next` says', async () => {
      for (const next of hostile) {
        const c = new WebClient(server().url, server().services.config.PUBLIC_URL);
        await c.get(`/login?next=${encodeURIComponent(next)}`);
        const res = await c.post('/login', { login: 'held-admin', password: TEST_PASSWORD, next });
        expect(res.status, next).toBe(303);
        expect(res.location, next).toMatch(/^\/(?![/\\])/);
      }
    });

    it('sends a signed-in user opening the sign-in page only to a path on this server', async () => {
      for (const next of hostile) {
        const res = await admin.get(`/login?next=${encodeURIComponent(next)}`);
        expect(res.status, next).toBe(303);
        expect(res.location, next).toMatch(/^\/(?![/\\])/);
      }
    });
  });
});
