import { beforeAll, expect, it } from 'vitest';
import { storedKey } from './helpers/server.js';
import { signedIn } from './helpers/dashboard.js';
import { eachDialect } from './helpers/suite.js';
import { pageText, WebClient } from './helpers/web-client.js';

eachDialect('dashboard authorisation: customers see and change only their own licenses', (server) => {
  let mallory: WebClient;
  let victim: { id: number; key: string };
  let own: { id: number; key: string };
  let unowned: { id: number; key: string };

  beforeAll(async () => {
    mallory = await signedIn(server(), 'mallory', 'customer');
    await signedIn(server(), 'victim', 'customer');
    victim = await server().issue([8], { owner: 'victim', ipLocked: true, ips: ['192.0.2.1'], note: 'victim-note' });
    own = await server().issue([8], { owner: 'mallory' });
    unowned = await server().issue([8]);
  });

  it('answers another customer’s license, an unowned one and a missing one exactly alike (404), on every GET', async () => {
    for (const id of [victim.id, unowned.id, 999_999, 0, -1, 'abc', '1e3', '99999999999999999999']) {
      const res = await mallory.get(`/licenses/${id}`);
      expect(res.status, String(id)).toBe(404);
      expect(res.text).not.toContain(victim.key);
      expect(res.text).not.toContain('victim-note');
      expect(res.text).not.toContain('192.0.2.1');
    }
    expect((await mallory.get(`/licenses/${own.id}`)).status).toBe(200);
  });

  it('refuses every action on another customer’s license by editing the id, and changes nothing', async () => {
    const before = await server().services.licenses.show(victim.id);
    await mallory.get(`/licenses/${own.id}`);
    const actions: [string, Record<string, string>][] = [
      ['reveal', {}],
      ['ips', { ips: '6.6.6.6' }],
      ['active', { active: '0' }],
      ['regenerate', { confirm: 'yes' }],
    ];
    for (const target of [victim.id, unowned.id]) {
      for (const [action, fields] of actions) {
        const res = await mallory.post(`/licenses/${target}/${action}`, fields);
        expect(res.status, `${action} on ${target}`).toBe(404);
        expect(res.text).not.toContain(victim.key);
        const json = await mallory.post(`/licenses/${target}/${action}`, fields, { headers: { accept: 'application/json' } });
        expect(json.status).toBe(404);
        expect(json.text).not.toContain(victim.key);
      }
    }
    expect(await server().services.licenses.show(victim.id)).toEqual(before);
    expect(await storedKey(server(), victim.id)).toBe(victim.key);
  });

  it('keeps customers out of every staff page and action (403), changing nothing', async () => {
    const pages = ['/staff', '/staff/licenses', `/staff/licenses/${victim.id}`, '/staff/licenses/new', '/staff/products', '/staff/products/8', '/staff/users', '/staff/users/1', '/staff/audit', '/staff/checks', '/staff/tokens'];
    for (const path of pages) {
      const res = await mallory.get(path);
      expect(res.status, path).toBe(403);
      expect(res.text).not.toContain('victim-note');
    }
    await mallory.get('/licenses');
    const posts: [string, Record<string, string>][] = [
      ['/staff/products', { name: 'Hacked', id: '77' }],
      ['/staff/licenses', { productIds: '8', owner: 'mallory' }],
      ['/staff/licenses/find', { key: victim.key }],
      ['/staff/licenses/bulk', { ids: String(victim.id), action: 'disable' }],
      [`/staff/licenses/${victim.id}`, { productIds: '8', owner: 'mallory' }],
      [`/staff/licenses/${victim.id}/disable`, { disabled: '1' }],
      [`/staff/licenses/${victim.id}/lock`, { ipLocked: '0' }],
      [`/staff/licenses/${victim.id}/regenerate`, { confirm: 'yes' }],
      [`/staff/licenses/${victim.id}/delete`, { confirm: 'yes' }],
      ['/staff/users', { username: 'evil', role: 'admin' }],
      ['/staff/users/1/role', { role: 'admin' }],
    ];
    for (const [path, fields] of posts) {
      const res = await mallory.post(path, fields);
      expect(res.status, path).toBe(403);
    }
    expect((await server().services.licenses.show(victim.id)).owner).toBe('victim');
    expect((await server().services.licenses.show(victim.id)).disabled).toBe(false);
    expect(await server().services.users.findByUsername('evil')).toBeNull();
    expect((await server().services.users.findByUsername('mallory'))?.role).toBe('customer');
    await expect(server().services.products.get(77)).rejects.toThrow();
  });

  it('sends a signed-out visitor to sign in from every page, and refuses every action', async () => {
    const anon = new WebClient(server().url);
    for (const path of ['/licenses', `/licenses/${own.id}`, '/account', '/staff', '/staff/licenses', '/staff/users', '/staff/audit']) {
      const res = await anon.get(path);
      expect(res.status, path).toBe(303);
      expect(res.location).toBe(`/login?next=${encodeURIComponent(path)}`);
    }
    await anon.get('/login');
    for (const path of [`/licenses/${own.id}/reveal`, `/licenses/${own.id}/regenerate`, '/staff/products', '/account/password']) {
      const res = await anon.post(path, { confirm: 'yes', name: 'x' });
      expect(res.status, path).toBe(303);
      expect(res.location).toBe('/login');
    }
    expect(await storedKey(server(), own.id)).toBe(own.key);
  });

  it('never shows unknown-key attempts or other licenses’ checks to a customer', async () => {
    await fetch(`${server().url}/api/check/8?info=probe-unknown`, { method: 'POST', headers: { authorization: 'no-such-key-000000' } });
    await fetch(`${server().url}/api/check/8?info=probe-victim`, { method: 'POST', headers: { authorization: victim.key } });
    await server().flush();
    const page = await mallory.get(`/licenses/${own.id}?result=fail`);
    expect(pageText(page.text)).not.toContain('probe-');
  });
});
