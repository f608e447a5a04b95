import { beforeAll, describe, expect, it } from 'vitest';
import { apiClient, errorOf } from './helpers/api.js';
import { runCli } from './helpers/cli.js';
import { makeUser, signedIn } from './helpers/dashboard.js';
import { request } from './helpers/http.js';
import { eachDialect } from './helpers/suite.js';
import { until } from './helpers/wait.js';
import { pageText, type WebClient } from './helpers/web-client.js';

/**
 * The licensing and user rules that hold whatever the surface (API, dashboard, CLI): they live in
 * the services of src/licensing/, so every test here goes through the real server (and the CLI).
 */

const checkStatus = async (url: string, key: string, ip = '192.0.2.77'): Promise<string> =>
  (await request(url, { path: '/api/check/8', headers: { authorization: key, 'x-real-ip': ip } })).json.status;

eachDialect('licensing rules: staff bulk changes, customer IP lists, key reveals', (server) => {
  let staff: WebClient;
  beforeAll(async () => {
    staff = await signedIn(server(), 'bulk-staff', 'staff');
  });

  describe('a staff bulk disable is all or nothing', () => {
    it('a bulk disable naming one unknown license changes nothing, says which id, and checks keep passing', async () => {
      const s = server();
      const a = await s.issue([8]);
      const b = await s.issue([8]);
      expect(await checkStatus(s.url, a.key)).toBe('AUTHORISED');
      await staff.get('/staff/licenses');
      const res = await staff.post('/staff/licenses/bulk', { ids: [a.id, 999_999, b.id], action: 'disable' });
      expect(res.status).toBe(303);
      const text = pageText((await staff.follow(res)).text);
      expect(text).toContain('license 999999 does not exist');
      expect(text).toContain('nothing was changed');
      expect((await s.services.licenses.show(a.id)).disabled).toBe(false);
      expect((await s.services.licenses.show(b.id)).disabled).toBe(false);
      const audit = await s.services.logs.audit({ actor: 'user:bulk-staff', action: 'license.updated' });
      expect(audit.filter((e) => e.targetId === String(a.id) || e.targetId === String(b.id))).toEqual([]);
      expect(await checkStatus(s.url, a.key)).toBe('AUTHORISED');
      expect(await checkStatus(s.url, b.key)).toBe('AUTHORISED');
    });

    it('a bulk disable with an id that is not a number changes nothing and names it', async () => {
      const s = server();
      const a = await s.issue([8]);
      await staff.get('/staff/licenses');
      const res = await staff.post('/staff/licenses/bulk', { ids: `${a.id}, abc`, action: 'disable' });
      const text = pageText((await staff.follow(res)).text);
      expect(text).toContain('"abc" is not a license id');
      expect((await s.services.licenses.show(a.id)).disabled).toBe(false);
    });

    it('a successful bulk disable is seen by the very next check: AUTHORISED, then KEY DISABLED', async () => {
      const s = server();
      const a = await s.issue([8]);
      const b = await s.issue([8]);
      // Both keys are in the check path's cache now.
      expect(await checkStatus(s.url, a.key)).toBe('AUTHORISED');
      expect(await checkStatus(s.url, b.key)).toBe('AUTHORISED');
      await staff.get('/staff/licenses');
      const res = await staff.post('/staff/licenses/bulk', { ids: [a.id, b.id], action: 'disable' });
      expect(pageText((await staff.follow(res)).text)).toContain('2 license(s) disabled.');
      const started = Date.now();
      expect(await until(() => checkStatus(s.url, a.key), (v) => v === 'KEY DISABLED', 1000)).toBe('KEY DISABLED');
      expect(await checkStatus(s.url, b.key)).toBe('KEY DISABLED');
      expect(Date.now() - started).toBeLessThan(1000);
      const audit = await s.services.logs.audit({ actor: 'user:bulk-staff', action: 'license.updated' });
      expect(audit.filter((e) => e.targetId === String(a.id) || e.targetId === String(b.id))).toHaveLength(2);
    });
  });

  describe('customers set narrow IP lists; staff set any', () => {
    let carol: WebClient;
    beforeAll(async () => {
      carol = await signedIn(server(), 'ip-carol', 'customer');
    });

    it('a customer’s wide CIDR is refused with a message naming the limit, and nothing changes', async () => {
      const s = server();
      const { id, key } = await s.issue([8], { owner: 'ip-carol', ipLocked: true, ips: ['198.51.100.7'] });
      await carol.get(`/licenses/${id}`);
      for (const ips of ['0.0.0.0/0, ::/0', '10.0.0.0/8', '203.0.113.0/23', '2001:db8::/32', '::ffff:0.0.0.0/96']) {
        const res = await carol.post(`/licenses/${id}/ips`, { ips });
        const text = pageText((await carol.follow(res)).text);
        expect(text, ips).toContain('wider than customers may set');
        expect(text, ips).toContain('/24 for IPv4, /48 for IPv6');
      }
      expect((await s.services.licenses.show(id)).ips).toEqual(['198.51.100.7']);
      expect(await checkStatus(s.url, key, '203.0.113.99')).toBe('NOT AUTHORISED');
      // Refusals are not changes: the day's allowance is untouched.
      expect(pageText((await carol.get(`/licenses/${id}`)).text)).toContain('5 of 5 changes left');
    });

    it('a customer may set single addresses and blocks up to /24 and /48', async () => {
      const s = server();
      const { id } = await s.issue([8], { owner: 'ip-carol', ipLocked: true });
      await carol.get(`/licenses/${id}`);
      const res = await carol.post(`/licenses/${id}/ips`, { ips: '203.0.113.9\n198.51.100.0/24\n2001:db8:1::/48' });
      expect(pageText((await carol.follow(res)).text)).toContain('Allowed IPs saved.');
      expect((await s.services.licenses.show(id)).ips).toEqual(['203.0.113.9', '198.51.100.0/24', '2001:db8:1::/48']);
    });

    it('a customer may not list more than 5 entries', async () => {
      const s = server();
      const { id } = await s.issue([8], { owner: 'ip-carol', ipLocked: true });
      await carol.get(`/licenses/${id}`);
      const six = ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4', '192.0.2.5', '192.0.2.6'];
      const res = await carol.post(`/licenses/${id}/ips`, { ips: six.join('\n') });
      expect(pageText((await carol.follow(res)).text)).toContain('at most 5');
      expect((await s.services.licenses.show(id)).ips).toEqual([]);
      await carol.post(`/licenses/${id}/ips`, { ips: six.slice(0, 5).join('\n') });
      expect((await s.services.licenses.show(id)).ips).toEqual(six.slice(0, 5));
    });

    it('staff may set any CIDR and any number of entries, on the dashboard and the API', async () => {
      const s = server();
      const { id, key } = await s.issue([8], { owner: 'ip-carol', ipLocked: true });
      await staff.get(`/staff/licenses/${id}`);
      const wide = ['0.0.0.0/0', '::/0', '10.0.0.0/8', '192.0.2.1', '192.0.2.2', '192.0.2.3'];
      const res = await staff.post(`/staff/licenses/${id}`, { productIds: '8', owner: 'ip-carol', active: '1', ipLocked: '1', ips: wide.join('\n') });
      expect(pageText((await staff.follow(res)).text)).toContain('License saved.');
      expect((await s.services.licenses.show(id)).ips).toEqual(wide);
      expect(await until(() => checkStatus(s.url, key, '203.0.113.99'), (v) => v === 'AUTHORISED', 1000)).toBe('AUTHORISED');
      const api = apiClient(server);
      const token = await api.token(['licenses:write']);
      const patched = await api.call('PATCH', `/licenses/${id}`, { token, body: { ips: ['2001:db8::/32', '100.64.0.0/10'] } });
      expect(patched.status, patched.text).toBe(200);
      expect(patched.json.ips).toEqual(['2001:db8::/32', '100.64.0.0/10']);
    });

    it('the daily IP-change limit holds under simultaneous changes', async () => {
      const s = server();
      const { id } = await s.issue([8], { owner: 'ip-carol', ipLocked: true });
      await carol.get(`/licenses/${id}`);
      // Twelve different lists at once: only five may be applied.
      await Promise.all(Array.from({ length: 12 }, (_, i) => carol.post(`/licenses/${id}/ips`, { ips: `192.0.2.${i + 10}` })));
      const changes = await s.services.logs.audit({ actor: 'user:ip-carol', action: 'license.updated', targetId: String(id) });
      expect(changes).toHaveLength(5);
      expect(pageText((await carol.get(`/licenses/${id}`)).text)).toContain('0 of 5 changes left');
    });
  });

  describe('revealing a key someone else owns is an explicit, audited action', () => {
    it('transferring a license to oneself, revealing it and transferring it back leaves an audit entry that names the reveal', async () => {
      const s = server();
      await makeUser(s, 'reveal-victim');
      const { id, key } = await s.issue([8], { owner: 'reveal-victim' });
      const sneaky = await signedIn(s, 'sneaky-staff', 'staff');
      const edit = (owner: string) =>
        sneaky.post(`/staff/licenses/${id}`, { productIds: '8', owner, active: '1' }).then((r) => sneaky.follow(r));
      await sneaky.get(`/staff/licenses/${id}`);
      await edit('sneaky-staff');
      await sneaky.get(`/licenses/${id}`);
      const revealed = await sneaky.post(`/licenses/${id}/reveal`, {}, { headers: { accept: 'application/json' } });
      await sneaky.get(`/staff/licenses/${id}`);
      await edit('reveal-victim');
      expect((await s.services.licenses.show(id)).owner).toBe('reveal-victim');
      // Either the reveal was refused, or it is on the record, by whom, with the license's history.
      if (revealed.status === 200 && revealed.text.includes(key)) {
        const audit = await s.services.logs.audit({ action: 'license.key_revealed', targetType: 'license', targetId: String(id) });
        expect(audit.map((e) => e.actor)).toContain('user:sneaky-staff');
        const page = pageText((await staff.get(`/staff/licenses/${id}`)).text);
        expect(page).toContain('license.key_revealed');
        expect(page).toContain('user:sneaky-staff');
      } else {
        expect(revealed.text).not.toContain(key);
      }
    });

    it('staff reveal a customer’s key only by the explicit action, which is audited and shown in the license’s history', async () => {
      const s = server();
      await makeUser(s, 'reveal-owner');
      const { id, key } = await s.issue([8], { owner: 'reveal-owner' });
      const page = await staff.get(`/staff/licenses/${id}`);
      expect(page.text).not.toContain(key);
      const ask = await staff.post(`/staff/licenses/${id}/reveal`);
      expect(ask.text).not.toContain(key);
      expect(pageText(ask.text)).toContain('recorded in the license’s history');
      const shown = await staff.post(`/staff/licenses/${id}/reveal`, { confirm: 'yes' });
      expect(shown.status).toBe(200);
      expect(shown.text).toContain(key);
      const audit = await s.services.logs.audit({ action: 'license.key_revealed', targetId: String(id) });
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({ actor: 'user:bulk-staff', targetType: 'license', after: { owner: 'reveal-owner' } });
      expect(JSON.stringify(audit)).not.toContain(key);
      const history = pageText((await staff.get(`/staff/licenses/${id}`)).text);
      expect(history).toContain('license.key_revealed');
    });

    it('an owner’s own reveal is recorded too', async () => {
      const s = server();
      const owner = await signedIn(s, 'reveal-self', 'customer');
      const { id, key } = await s.issue([8], { owner: 'reveal-self' });
      await owner.get(`/licenses/${id}`);
      const res = await owner.post(`/licenses/${id}/reveal`, {}, { headers: { accept: 'application/json' } });
      expect(JSON.parse(res.text)).toEqual({ key });
      const audit = await s.services.logs.audit({ action: 'license.key_revealed', targetId: String(id) });
      expect(audit.map((e) => e.actor)).toEqual(['user:reveal-self']);
    });
  });
});

eachDialect('licensing rules: roles need admin rights, and the last admin stays', (server) => {
  const api = apiClient(server);
  let usersWrite: string;
  let usersAdmin: string;
  let boss: { id: number };
  let bossClient: WebClient;
  const cli = (args: string[]) => runCli(server().db.env, args);

  beforeAll(async () => {
    usersWrite = await api.token(['users:read', 'users:write'], 'users-writer');
    usersAdmin = await api.token(['users:read', 'users:write', 'users:admin'], 'users-admin');
    bossClient = await signedIn(server(), 'the-boss', 'admin');
    boss = (await server().services.users.findByUsername('the-boss'))!;
  });

  it('a users:write token cannot create an admin or a staff account', async () => {
    for (const role of ['admin', 'staff']) {
      const res = await api.call('POST', '/users', { token: usersWrite, body: { username: `made-${role}`, password: 'made-pass-123', role } });
      expect(res.status, res.text).toBe(403);
      expect(errorOf(res)).toMatchObject({ code: 'forbidden', details: { requiredScope: 'users:admin' } });
      expect(await server().services.users.findByUsername(`made-${role}`)).toBeNull();
    }
    const customer = await api.call('POST', '/users', { token: usersWrite, body: { username: 'made-customer', password: 'made-pass-123' } });
    expect(customer.status).toBe(201);
    const staffByAdmin = await api.call('POST', '/users', { token: usersAdmin, body: { username: 'made-staff-ok', password: 'made-pass-123', role: 'staff' } });
    expect(staffByAdmin.status).toBe(201);
  });

  it('a users:write token cannot promote anyone to staff or admin, nor change, demote or disable staff and admins', async () => {
    const cust = await makeUser(server(), 'promote-me');
    const worker = await makeUser(server(), 'a-worker', 'staff');
    const attempts: [number, Record<string, unknown>][] = [
      [cust.id, { role: 'admin' }],
      [cust.id, { role: 'staff' }],
      [worker.id, { role: 'customer' }],
      [worker.id, { disabled: true }],
      [worker.id, { email: 'taken-over@example.com' }],
      [boss.id, { role: 'customer' }],
      [boss.id, { disabled: true }],
    ];
    for (const [id, body] of attempts) {
      const res = await api.call('PATCH', `/users/${id}`, { token: usersWrite, body });
      expect(res.status, `${JSON.stringify(body)}: ${res.text}`).toBe(403);
      expect(errorOf(res).details).toEqual({ requiredScope: 'users:admin' });
    }
    expect((await server().services.users.get(cust.id)).role).toBe('customer');
    expect(await server().services.users.get(worker.id)).toMatchObject({ role: 'staff', disabled: false, email: 'a-worker@example.com' });
    expect(await server().services.users.get(boss.id)).toMatchObject({ role: 'admin', disabled: false });
    // Customers are still its to manage.
    expect((await api.call('PATCH', `/users/${cust.id}`, { token: usersWrite, body: { email: 'new@example.com' } })).status).toBe(200);
    const promoted = await api.call('PATCH', `/users/${cust.id}`, { token: usersAdmin, body: { role: 'staff' } });
    expect(promoted.status).toBe(200);
  });

  it('the last enabled admin cannot be demoted or disabled through the API, even with users:admin', async () => {
    for (const body of [{ role: 'staff' }, { role: 'customer' }, { disabled: true }]) {
      const res = await api.call('PATCH', `/users/${boss.id}`, { token: usersAdmin, body });
      expect(res.status, res.text).toBe(409);
      expect(errorOf(res).message).toContain('only enabled admin');
    }
    expect(await server().services.users.get(boss.id)).toMatchObject({ role: 'admin', disabled: false });
  });

  it('the last enabled admin cannot be demoted or disabled on the dashboard', async () => {
    // A second, disabled admin does not count.
    const sleeper = await makeUser(server(), 'sleeping-admin', 'admin');
    await server().services.users.update(sleeper.id, { disabled: true }, 'test');
    await bossClient.get(`/staff/users/${boss.id}`);
    const demote = await bossClient.post(`/staff/users/${boss.id}/role`, { role: 'staff' });
    expect(pageText((await bossClient.follow(demote)).text)).toContain('only enabled admin');
    expect((await server().services.users.get(boss.id)).role).toBe('admin');
    // Nobody disables their own sign-in, so on the dashboard the last admin is never disabled either.
    const disable = await bossClient.post(`/staff/users/${boss.id}/disable`, { disabled: '1' });
    expect(pageText((await bossClient.follow(disable)).text)).toContain('cannot disable your own sign-in');
    expect(await server().services.users.get(boss.id)).toMatchObject({ role: 'admin', disabled: false });
  });

  it('the last enabled admin cannot be demoted or disabled with the CLI', async () => {
    const demote = await cli(['user', 'update', 'the-boss', '--role', 'customer', '--json']);
    expect(demote.code).not.toBe(0);
    expect(demote.stderr).toContain('only enabled admin');
    const disable = await cli(['user', 'update', String(boss.id), '--disabled', 'true', '--json']);
    expect(disable.code).not.toBe(0);
    expect(disable.stderr).toContain('only enabled admin');
    expect(await server().services.users.get(boss.id)).toMatchObject({ role: 'admin', disabled: false });
    // The CLI keeps full rights otherwise: it may promote and demote.
    const made = await cli(['user', 'update', 'promote-me', '--role', 'admin', '--json']);
    expect(made.code, made.stderr).toBe(0);
    expect(made.json).toMatchObject({ username: 'promote-me', role: 'admin' });
    const back = await cli(['user', 'update', 'promote-me', '--role', 'customer', '--json']);
    expect(back.json).toMatchObject({ role: 'customer' });
  });

  it('two admins demoting each other at the same time leave one admin', async () => {
    const a = await makeUser(server(), 'race-admin-a', 'admin');
    // Only the boss and race-admin-a are enabled admins now.
    const results = await Promise.all(
      [a.id, boss.id].map((id) => api.call('PATCH', `/users/${id}`, { token: usersAdmin, body: { role: 'customer' } })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    const admins = (await server().services.users.list({ role: 'admin' })).filter((u) => !u.disabled);
    expect(admins).toHaveLength(1);
    // Whoever is left, the boss is the admin again for the next tests.
    if (admins[0]!.id !== boss.id) {
      await server().services.users.update(boss.id, { role: 'admin' }, 'test');
      await server().services.users.update(a.id, { role: 'customer' }, 'test');
    }
  });

  it('disabling a user through the API ends their sessions: enabling them again does not bring a session back', async () => {
    const victim = await signedIn(server(), 'session-holder', 'customer');
    const user = (await server().services.users.findByUsername('session-holder'))!;
    expect((await victim.get('/licenses')).status).toBe(200);
    const off = await api.call('PATCH', `/users/${user.id}`, { token: usersWrite, body: { disabled: true } });
    expect(off.status).toBe(200);
    const on = await api.call('PATCH', `/users/${user.id}`, { token: usersWrite, body: { disabled: false } });
    expect(on.status).toBe(200);
    const res = await victim.get('/licenses');
    expect(res.status).toBe(303);
    expect(res.location).toMatch(/^\/login/);
  });

  it('disabling a user on the dashboard ends their sessions: enabling them again does not bring one back', async () => {
    const victim = await signedIn(server(), 'web-session-holder', 'customer');
    const user = (await server().services.users.findByUsername('web-session-holder'))!;
    expect((await victim.get('/licenses')).status).toBe(200);
    await bossClient.get(`/staff/users/${user.id}`);
    expect((await bossClient.post(`/staff/users/${user.id}/disable`, { disabled: '1' })).status).toBe(303);
    expect((await bossClient.post(`/staff/users/${user.id}/disable`, { disabled: '0' })).status).toBe(303);
    expect((await server().services.users.get(user.id)).disabled).toBe(false);
    const res = await victim.get('/licenses');
    expect(res.status).toBe(303);
    expect(res.location).toMatch(/^\/login/);
  });

  it('disabling a user with the CLI ends their sessions too', async () => {
    const victim = await signedIn(server(), 'cli-session-holder', 'customer');
    expect((await victim.get('/licenses')).status).toBe(200);
    expect((await cli(['user', 'update', 'cli-session-holder', '--disabled', 'true', '--json'])).code).toBe(0);
    expect((await cli(['user', 'update', 'cli-session-holder', '--disabled', 'false', '--json'])).code).toBe(0);
    const res = await victim.get('/licenses');
    expect(res.status).toBe(303);
  });
});
