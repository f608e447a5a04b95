import { beforeAll, expect, it } from 'vitest';
import { storedKey } from './helpers/server.js';
import { makeUser, signedIn } from './helpers/dashboard.js';
import { request } from './helpers/http.js';
import { eachDialect } from './helpers/suite.js';
import { pageText, type WebClient } from './helpers/web-client.js';

const check = (url: string, key: string, ip: string, product = 8) =>
  request(url, { path: `/api/check/${product}`, headers: { authorization: key, 'x-real-ip': ip, 'user-agent': 'FXServer/test' } });

eachDialect(
  'dashboard: a customer manages their own licenses',
  (server) => {
    let alice: WebClient;
    beforeAll(async () => {
      alice = await signedIn(server(), 'alice', 'customer');
    });

    it('lists the customer’s licenses with product, masked key, status, IP lock, expiry and counters', async () => {
      const s = server();
      const { id, key } = await s.issue([21], { owner: 'alice', ipLocked: true, ips: ['203.0.113.5'], expiresAt: '2031-01-31' });
      await s.services.products.update(21, { name: 'Fuel Script' }, 'test');
      await s.issue([21], { owner: 'alice', expiresAt: '2020-01-01' });
      const other = await s.issue([21]);
      await check(s.url, key, '203.0.113.5', 21);
      await s.flush();
      const page = await alice.get('/licenses');
      expect(page.status).toBe(200);
      const text = pageText(page.text);
      expect(text).toContain('Fuel Script');
      expect(text).toContain('203.0.113.5');
      expect(text).toContain('2031-01-31');
      expect(text).toContain('Active');
      expect(text).toContain('Expired');
      expect(page.text).toContain(`href="/licenses/${id}"`);
      expect(page.text).not.toContain(`href="/licenses/${other.id}"`);
      expect(page.text).not.toContain(key);
      expect(page.text).toContain('••••••••••••');
      expect(text).toMatch(/Checks 1, last \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC from 203\.0\.113\.5/);
    });

    it('shows a license with its key masked, reveals it on request (form and JSON), and never otherwise', async () => {
      const s = server();
      const { id, key } = await s.issue([8], { owner: 'alice' });
      const page = await alice.get(`/licenses/${id}`);
      expect(page.status).toBe(200);
      expect(page.text).not.toContain(key);
      expect(page.text).toContain(`action="/licenses/${id}/reveal"`);
      const revealed = await alice.post(`/licenses/${id}/reveal`);
      expect(revealed.status).toBe(200);
      expect(revealed.text).toContain(`>${key}</code>`);
      const json = await alice.post(`/licenses/${id}/reveal`, {}, { headers: { accept: 'application/json' } });
      expect(JSON.parse(json.text)).toEqual({ key });
    });

    it('changes allowed IPs (validated), and the next check obeys them', async () => {
      const s = server();
      const { id, key } = await s.issue([8], { owner: 'alice', ipLocked: true, ips: ['198.51.100.1'] });
      await alice.get(`/licenses/${id}`);
      const bad = await alice.post(`/licenses/${id}/ips`, { ips: '203.0.113.9\nnot-an-ip' });
      expect(bad.status).toBe(303);
      expect(pageText((await alice.follow(bad)).text)).toContain('invalid IP allow-list');
      expect((await s.services.licenses.show(id)).ips).toEqual(['198.51.100.1']);

      const ok = await alice.post(`/licenses/${id}/ips`, { ips: '203.0.113.9\n2001:db8:1::/48, 10.1.2.0/24' });
      expect(ok.location).toBe(`/licenses/${id}`);
      const after = await alice.follow(ok);
      expect(pageText(after.text)).toContain('Allowed IPs saved.');
      expect((await s.services.licenses.show(id)).ips).toEqual(['203.0.113.9', '2001:db8:1::/48', '10.1.2.0/24']);
      await new Promise((r) => setTimeout(r, 300));
      expect((await check(s.url, key, '203.0.113.9')).json.status).toBe('AUTHORISED');
      expect((await check(s.url, key, '198.51.100.1')).json.status).toBe('NOT AUTHORISED');
    });

    it('limits IP changes per day to IP_CHANGES_PER_DAY (here 2), counting only real changes', async () => {
      const s = server();
      const { id } = await s.issue([8], { owner: 'alice', ipLocked: true });
      await alice.get(`/licenses/${id}`);
      expect(pageText((await alice.get(`/licenses/${id}`)).text)).toContain('2 of 2 changes left');
      await alice.post(`/licenses/${id}/ips`, { ips: '192.0.2.1' });
      const same = await alice.post(`/licenses/${id}/ips`, { ips: '192.0.2.1' });
      expect(pageText((await alice.follow(same)).text)).toContain('unchanged');
      await alice.post(`/licenses/${id}/ips`, { ips: '192.0.2.2' });
      const page = await alice.get(`/licenses/${id}`);
      expect(pageText(page.text)).toContain('0 of 2 changes left');
      const refused = await alice.post(`/licenses/${id}/ips`, { ips: '192.0.2.3' });
      expect(pageText((await alice.follow(refused)).text)).toContain('You can change the allowed IPs 2 time(s) a day');
      expect((await s.services.licenses.show(id)).ips).toEqual(['192.0.2.2']);
    });

    it('switches the license off and on; checks answer NOT ACTIVE while off', async () => {
      const s = server();
      const { id, key } = await s.issue([8], { owner: 'alice' });
      await alice.get(`/licenses/${id}`);
      const off = await alice.post(`/licenses/${id}/active`, { active: '0' });
      expect(pageText((await alice.follow(off)).text)).toContain('switched off');
      expect((await s.services.licenses.show(id)).active).toBe(false);
      await new Promise((r) => setTimeout(r, 300));
      expect((await check(s.url, key, '192.0.2.50')).json.status).toBe('NOT ACTIVE');
      expect(pageText((await alice.get(`/licenses/${id}`)).text)).toContain('Inactive');
      await alice.post(`/licenses/${id}/active`, { active: '1' });
      await new Promise((r) => setTimeout(r, 300));
      expect((await check(s.url, key, '192.0.2.50')).json.status).toBe('AUTHORISED');
    });

    it('regenerates only after confirmation; the old key dies at once and the new one is shown once', async () => {
      const s = server();
      const { id, key } = await s.issue([8], { owner: 'alice' });
      await alice.get(`/licenses/${id}`);
      const ask = await alice.post(`/licenses/${id}/regenerate`);
      expect(ask.status).toBe(200);
      expect(pageText(ask.text)).toContain('The current key stops working at once');
      expect(ask.text).toContain('name="confirm" value="yes"');
      expect(await storedKey(s, id)).toBe(key);
      const done = await alice.post(`/licenses/${id}/regenerate`, { confirm: 'yes' });
      expect(done.status).toBe(200);
      const newKey = await storedKey(s, id);
      expect(newKey).not.toBe(key);
      expect(done.text).toContain(newKey);
      expect((await check(s.url, key, '192.0.2.60')).json.status).toBe('NOT FOUND');
      expect((await check(s.url, newKey, '192.0.2.60')).json.status).toBe('AUTHORISED');
      const audit = await s.services.logs.audit({ action: 'license.regenerated', targetId: String(id) });
      expect(audit[0]?.actor).toBe('user:alice');
    });

    it('pages Previous Auths newest first, filters by result, and charts 30 days of checks', async () => {
      const s = server();
      const { id, key } = await s.issue([8], { owner: 'alice', ipLocked: true, ips: ['192.0.2.77'] });
      for (let i = 0; i < 27; i++) {
        await request(s.url, { path: `/api/check/8?info=run-${i}`, headers: { authorization: key, 'x-real-ip': i % 9 === 0 ? '192.0.2.78' : '192.0.2.77' } });
      }
      await s.flush();
      const first = await alice.get(`/licenses/${id}`);
      const infos = (html: string) => [...html.matchAll(/>(run-\d+)</g)].map((m) => m[1]);
      const page1 = infos(first.text);
      expect(page1).toHaveLength(25);
      expect(page1[0]).toBe('run-26');
      expect(page1[24]).toBe('run-2');
      const older = /href="([^"]*before=\d+[^"]*)#previous-auths">Older/.exec(first.text)![1]!.replace(/&amp;/g, '&');
      const second = await alice.get(`/licenses/${id}${older}`);
      expect(infos(second.text)).toEqual(['run-1', 'run-0']);
      expect(second.text).not.toContain('Older »');

      const failed = await alice.get(`/licenses/${id}?result=fail`);
      expect(infos(failed.text)).toEqual(['run-18', 'run-9', 'run-0']);
      expect(pageText(failed.text)).toContain('NOT AUTHORISED');
      const passed = await alice.get(`/licenses/${id}?result=AUTHORISED`);
      expect(infos(passed.text)).toHaveLength(24);
      // Time, IP, result, info and user agent are all shown.
      expect(pageText(first.text)).toMatch(/\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC 8 192\.0\.2\.77 AUTHORISED run-26/);

      expect(first.text).toContain('<svg class="chart"');
      const today = new Date().toISOString().slice(0, 10);
      expect(first.text).toContain(`<title>${today}: 24 passed, 3 failed</title>`);
      expect(first.text.match(/<g class="day">/g)).toHaveLength(30);
    });

    it('shows a helpful empty state to a customer with no licenses', async () => {
      const bob = await signedIn(server(), 'bob-empty', 'customer');
      const page = await bob.get('/licenses');
      expect(pageText(page.text)).toContain('You have no licenses yet');
    });

    it('lets staff see their own licenses under My licenses too, and hides staff links from customers', async () => {
      const staff = await signedIn(server(), 'staff-own', 'staff');
      const { id } = await server().issue([8], { owner: 'staff-own' });
      expect((await staff.get('/licenses')).text).toContain(`href="/licenses/${id}"`);
      const customerPage = await alice.get('/licenses');
      expect(customerPage.text).not.toContain('href="/staff');
      expect((await staff.get('/licenses')).text).toContain('href="/staff/licenses"');
    });
  },
  { IP_CHANGES_PER_DAY: '2', TRUST_PROXY: 'loopback' },
);
