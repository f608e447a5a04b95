import { beforeAll, expect, it } from 'vitest';
import { storedKey } from './helpers/server.js';
import { idFrom, makeUser, signedIn } from './helpers/dashboard.js';
import { request } from './helpers/http.js';
import { LICENSE_KEY } from './helpers/patterns.js';
import { eachDialect } from './helpers/suite.js';
import { pageText, type WebClient } from './helpers/web-client.js';

const check = (url: string, key: string, product = 8, ip = '192.0.2.10') =>
  request(url, { path: `/api/check/${product}`, headers: { authorization: key, 'x-real-ip': ip } });
const settle = () => new Promise((r) => setTimeout(r, 300));

eachDialect(
  'dashboard: staff run the license business',
  (server) => {
    let staff: WebClient;
    beforeAll(async () => {
      staff = await signedIn(server(), 'sam-staff', 'staff');
      await makeUser(server(), 'carol');
    });

    it('creates, edits and deletes products; deleting one that licenses use is refused', async () => {
      await staff.get('/staff/products');
      const created = await staff.post('/staff/products', { name: 'Garage Script', id: '31', description: 'Lets players own garages' });
      expect(created.status).toBe(303);
      expect(pageText((await staff.follow(created)).text)).toContain('Product 31 "Garage Script" created.');
      const auto = await staff.post('/staff/products', { name: 'Auto id' });
      expect(pageText((await staff.follow(auto)).text)).toMatch(/Product 32 "Auto id" created/);
      const dup = await staff.post('/staff/products', { name: 'Dup', id: '31' });
      expect(pageText((await staff.follow(dup)).text)).toContain('product 31 already exists');

      const page = await staff.get('/staff/products/31');
      expect(page.text).toContain('value="Garage Script"');
      await staff.post('/staff/products/31', { name: 'Garage Script Pro', description: '' });
      expect((await server().services.products.get(31)).name).toBe('Garage Script Pro');

      const { id } = await server().services.licenses.create({ productIds: [31] }, 'test');
      const ask = await staff.post('/staff/products/31/delete');
      expect(pageText(ask.text)).toContain('Delete product 31');
      const refused = await staff.post('/staff/products/31/delete', { confirm: 'yes' });
      expect(pageText((await staff.follow(refused)).text)).toContain('product 31 is granted by 1 license(s)');
      await server().services.licenses.delete(id, 'test');
      const deleted = await staff.post('/staff/products/31/delete', { confirm: 'yes' });
      expect(deleted.location).toBe('/staff/products');
      await expect(server().services.products.get(31)).rejects.toThrow('does not exist');
      expect((await staff.get('/staff/products/31')).status).toBe(404);
    });

    it('issues a license for a customer: the key is shown once and checks AUTHORISED', async () => {
      await server().issue([40, 8]);
      const form = await staff.get('/staff/licenses/new?owner=carol');
      expect(form.text).toContain('value="carol"');
      const res = await staff.post('/staff/licenses', {
        productIds: ['40', '8'],
        owner: 'carol',
        ipLocked: '1',
        ips: '192.0.2.10\n10.1.0.0/16',
        expiresAt: '2032-05-01',
        note: 'Bought on FaxStore order #77',
      });
      expect(res.status).toBe(200);
      const key = /<code class="key" id="new-key" data-key>([^<]+)<\/code>/.exec(res.text)![1]!;
      expect(key).toMatch(LICENSE_KEY);
      const id = Number(/License #(\d+) created/.exec(pageText(res.text))![1]);
      const license = await server().services.licenses.show(id);
      expect(license).toMatchObject({ productIds: [40, 8], owner: 'carol', ipLocked: true, ips: ['192.0.2.10', '10.1.0.0/16'], expiresAt: '2032-05-01T00:00:00.000Z', note: 'Bought on FaxStore order #77' });
      await settle();
      expect((await check(server().url, key, 40)).json.status).toBe('AUTHORISED');
      expect((await check(server().url, key, 40, '192.0.2.11')).json.status).toBe('NOT AUTHORISED');
      // The key is never on the license page afterwards.
      expect((await staff.get(`/staff/licenses/${id}`)).text).not.toContain(key);
      const bad = await staff.post('/staff/licenses', { productIds: '999', owner: 'carol' });
      expect(pageText((await staff.follow(bad)).text)).toContain('product 999 does not exist');
    });

    it('searches licenses by owner, product, status and IP, and finds one by its exact key (sent by POST)', async () => {
      const a = await server().issue([50], { owner: 'carol', ips: ['198.51.100.50'] });
      const b = await server().issue([50]);
      await server().services.licenses.setDisabled([b.id], true, 'test');
      const byOwner = await staff.get('/staff/licenses?owner=carol&product=50');
      expect(byOwner.text).toContain(`href="/staff/licenses/${a.id}"`);
      expect(byOwner.text).not.toContain(`href="/staff/licenses/${b.id}"`);
      const disabled = await staff.get('/staff/licenses?product=50&status=disabled');
      expect(disabled.text).toContain(`href="/staff/licenses/${b.id}"`);
      expect(disabled.text).not.toContain(`href="/staff/licenses/${a.id}"`);
      const byIp = await staff.get('/staff/licenses?ip=198.51.100.50');
      expect(byIp.text).toContain(`href="/staff/licenses/${a.id}"`);
      const unknownOwner = await staff.get('/staff/licenses?owner=nobody-at-all');
      expect(pageText(unknownOwner.text)).toContain('No licenses match.');
      const found = await staff.post('/staff/licenses/find', { key: b.key });
      expect(found.status).toBe(303);
      expect(found.location).toBe(`/staff/licenses/${b.id}`);
      const none = await staff.post('/staff/licenses/find', { key: 'not-a-real-key-at-all' });
      expect(pageText((await staff.follow(none)).text)).toContain('No license has this key.');
    });

    it('pages through many licenses with a cursor', async () => {
      for (let i = 0; i < 55; i++) await server().issue([60]);
      const first = await staff.get('/staff/licenses?product=60');
      const ids = (html: string) => [...html.matchAll(/name="ids" value="(\d+)"/g)].map((m) => Number(m[1]));
      expect(ids(first.text)).toHaveLength(50);
      const next = /href="(\?[^"]*cursor=[^"]+)">Next page/.exec(first.text)![1]!.replace(/&amp;/g, '&');
      const second = await staff.get(`/staff/licenses${next}`);
      expect(ids(second.text)).toHaveLength(5);
      expect(Math.min(...ids(second.text))).toBeGreaterThan(Math.max(...ids(first.text)));
    });

    it('edits a license, force-disables it (KEY DISABLED), locks and unlocks its IP, and enables it again', async () => {
      const { id, key } = await server().issue([8], { owner: 'carol' });
      await staff.get(`/staff/licenses/${id}`);
      const saved = await staff.post(`/staff/licenses/${id}`, { productIds: '8', owner: '', active: '1', ips: '192.0.2.99', expiresAt: '', note: 'moved' });
      expect(pageText((await staff.follow(saved)).text)).toContain('License saved.');
      expect(await server().services.licenses.show(id)).toMatchObject({ owner: null, ips: ['192.0.2.99'], note: 'moved', ipLocked: false });

      await staff.post(`/staff/licenses/${id}/disable`, { disabled: '1' });
      await settle();
      expect((await check(server().url, key)).json.status).toBe('KEY DISABLED');
      expect(pageText((await staff.get(`/staff/licenses/${id}`)).text)).toContain('Disabled by staff');

      await staff.post(`/staff/licenses/${id}/disable`, { disabled: '0' });
      await staff.post(`/staff/licenses/${id}/lock`, { ipLocked: '1' });
      await settle();
      expect((await check(server().url, key, 8, '192.0.2.98')).json.status).toBe('NOT AUTHORISED');
      expect((await check(server().url, key, 8, '192.0.2.99')).json.status).toBe('AUTHORISED');
      await staff.post(`/staff/licenses/${id}/lock`, { ipLocked: '0' });
      await settle();
      expect((await check(server().url, key, 8, '192.0.2.98')).json.status).toBe('AUTHORISED');
    });

    it('regenerates and deletes only after confirmation', async () => {
      const { id, key } = await server().issue([8]);
      await staff.get(`/staff/licenses/${id}`);
      expect(pageText((await staff.post(`/staff/licenses/${id}/regenerate`)).text)).toContain(`Regenerate the key of license #${id}?`);
      expect(await storedKey(server(), id)).toBe(key);
      const regen = await staff.post(`/staff/licenses/${id}/regenerate`, { confirm: 'yes' });
      const newKey = await storedKey(server(), id);
      expect(newKey).not.toBe(key);
      expect(regen.text).toContain(newKey);

      const ask = await staff.post(`/staff/licenses/${id}/delete`);
      expect(pageText(ask.text)).toContain(`Delete license #${id}?`);
      expect((await server().services.licenses.show(id)).id).toBe(id);
      const del = await staff.post(`/staff/licenses/${id}/delete`, { confirm: 'yes' });
      expect(del.location).toBe('/staff/licenses');
      await expect(server().services.licenses.show(id)).rejects.toThrow('does not exist');
      expect((await staff.get(`/staff/licenses/${id}`)).status).toBe(404);
    });

    it('bulk-disables and re-enables selected licenses', async () => {
      const a = await server().issue([8]);
      const b = await server().issue([8]);
      const c = await server().issue([8]);
      await staff.get('/staff/licenses');
      const res = await staff.post('/staff/licenses/bulk', { ids: [a.id, b.id], action: 'disable' });
      expect(pageText((await staff.follow(res)).text)).toContain('2 license(s) disabled.');
      expect((await server().services.licenses.show(a.id)).disabled).toBe(true);
      expect((await server().services.licenses.show(b.id)).disabled).toBe(true);
      expect((await server().services.licenses.show(c.id)).disabled).toBe(false);
      await staff.post('/staff/licenses/bulk', { ids: [a.id], action: 'enable' });
      expect((await server().services.licenses.show(a.id)).disabled).toBe(false);
      const none = await staff.post('/staff/licenses/bulk', { action: 'disable' });
      expect(pageText((await staff.follow(none)).text)).toContain('Select at least one license.');
    });

    it('shows the overview: counts, checks today, the 30-day chart, top failing IPs and keys', async () => {
      const { id, key } = await server().issue([8], { ipLocked: true, ips: ['192.0.2.10'] });
      for (let i = 0; i < 3; i++) await check(server().url, key, 8, '203.0.113.200');
      await check(server().url, key);
      await check(server().url, 'unknown-key-xyz-123', 8, '203.0.113.201');
      await server().flush();
      const counts = await server().services.licenses.counts();
      const page = await staff.get('/staff');
      expect(page.status).toBe(200);
      const text = pageText(page.text);
      expect(text).toContain(`${counts.total.toLocaleString('en-US')} licenses`);
      expect(text).toContain(`${counts.disabled.toLocaleString('en-US')} disabled`);
      expect(text).toMatch(/\d+ checks today \(\d+ failed\)/);
      expect(page.text).toContain('<svg class="chart"');
      expect(page.text).toContain('href="/staff/checks?ip=203.0.113.200&amp;result=fail">203.0.113.200</a>');
      expect(page.text).toContain(`href="/staff/licenses/${id}">#${id}</a>`);
      expect(page.text).toContain('203.0.113.201');
    });

    it('lists global Previous Auths, unknown-key attempts included, with filters', async () => {
      const { id, key } = await server().issue([8]);
      await request(server().url, { path: '/api/check/8?info=global-known', headers: { authorization: key, 'x-real-ip': '192.0.2.140' } });
      await request(server().url, { path: '/api/check/8?info=global-unknown', headers: { authorization: 'wrong-key-123456', 'x-real-ip': '192.0.2.141' } });
      await server().flush();
      const all = pageText((await staff.get('/staff/checks')).text);
      expect(all).toContain('global-known');
      expect(all).toContain('global-unknown');
      expect(all).toContain('unknown key');
      const unknown = pageText((await staff.get('/staff/checks?unknown=1')).text);
      expect(unknown).toContain('global-unknown');
      expect(unknown).not.toContain('global-known');
      const byLicense = pageText((await staff.get(`/staff/checks?license=${id}`)).text);
      expect(byLicense).toContain('global-known');
      expect(byLicense).not.toContain('global-unknown');
      const byIp = pageText((await staff.get('/staff/checks?ip=192.0.2.141&result=fail')).text);
      expect(byIp).toContain('global-unknown');
      expect(byIp).not.toContain('global-known');
      const perLicense = pageText((await staff.get(`/staff/licenses/${id}`)).text);
      expect(perLicense).toContain('global-known');
    });

    it('lists, searches and creates users; a generated password is shown once', async () => {
      const list = await staff.get('/staff/users?q=carol');
      expect(pageText(list.text)).toContain('carol');
      expect(pageText(list.text)).not.toContain('sam-staff@');
      const customers = await staff.get('/staff/users?role=staff');
      expect(pageText(customers.text)).toContain('sam-staff');
      expect(pageText(customers.text)).not.toContain('carol@example.com');
      const made = await staff.post('/staff/users', { username: 'dave', email: 'dave@example.com', password: '' });
      expect(made.status).toBe(200);
      const password = /<code class="key" id="new-password">([^<]+)<\/code>/.exec(made.text)![1]!;
      expect(await server().services.users.verifyPassword('dave', password)).toMatchObject({ username: 'dave', role: 'customer' });
      const withPw = await staff.post('/staff/users', { username: 'erin', password: 'erin-pass-123' });
      expect(withPw.status).toBe(303);
      expect(idFrom(withPw.location)).toBe((await server().services.users.findByUsername('erin'))!.id);
    });

    it('edits a customer, sets their password, and disables sign-in (ending their sessions)', async () => {
      const carol = (await server().services.users.findByUsername('carol'))!;
      const session = await signedIn(server(), 'carol');
      await staff.get(`/staff/users/${carol.id}`);
      await staff.post(`/staff/users/${carol.id}`, { email: 'carol@new.example', discordId: '123456789012345678' });
      expect(await server().services.users.get(carol.id)).toMatchObject({ email: 'carol@new.example', discordId: '123456789012345678' });
      const disabled = await staff.post(`/staff/users/${carol.id}/disable`, { disabled: '1' });
      expect(pageText((await staff.follow(disabled)).text)).toContain('Sign-in disabled');
      expect((await session.get('/licenses')).status).toBe(303);
      expect(await server().services.users.verifyPassword('carol', 'test-pass-1234')).toBeNull();
      await staff.post(`/staff/users/${carol.id}/disable`, { disabled: '0' });
      await staff.post(`/staff/users/${carol.id}/password`, { password: 'carol-new-pass' });
      expect(await server().services.users.verifyPassword('carol', 'carol-new-pass')).not.toBeNull();
      const bad = await staff.post(`/staff/users/${carol.id}/password`, { password: 'short' });
      expect(pageText((await staff.follow(bad)).text)).toContain('at least 8 characters');
    });

    it('shows the audit log of staff changes with who, what, when and before/after, filterable', async () => {
      const { id } = await server().issue([8]);
      await staff.get(`/staff/licenses/${id}`);
      await staff.post(`/staff/licenses/${id}/disable`, { disabled: '1' });
      const page = await staff.get(`/staff/audit?actor=user:sam-staff&targetType=license&targetId=${id}`);
      const text = pageText(page.text);
      expect(text).toContain('user:sam-staff');
      expect(text).toContain('license.updated');
      expect(text).toContain('"disabled": true');
      expect(text).toContain('"disabled": false');
      const byAction = pageText((await staff.get('/staff/audit?action=product.created')).text);
      expect(byAction).toContain('product.created');
      expect(byAction).not.toContain('license.updated');
      const today = new Date().toISOString().slice(0, 10);
      expect(pageText((await staff.get(`/staff/audit?from=${today}&to=${today}&targetId=${id}`)).text)).toContain('license.updated');
      expect(pageText((await staff.get(`/staff/audit?to=2001-01-01`)).text)).toContain('No entries.');
      expect(pageText((await staff.get('/staff/audit?from=yesterday')).text)).toContain('not a valid ISO 8601 date');
    });
  },
  { TRUST_PROXY: 'loopback' },
);
