import { beforeAll, expect, it } from 'vitest';
import { idFrom, makeUser, signedIn } from './helpers/dashboard.js';
import { eachDialect } from './helpers/suite.js';
import { pageText, type WebClient } from './helpers/web-client.js';

eachDialect('dashboard: admins (and only admins) manage roles and staff', (server) => {
  let admin: WebClient;
  let staff: WebClient;
  beforeAll(async () => {
    admin = await signedIn(server(), 'ada-admin', 'admin');
    staff = await signedIn(server(), 'stan-staff', 'staff');
  });

  it('lets an admin create staff, change roles, and reset two-factor', async () => {
    await admin.get('/staff/users');
    const made = await admin.post('/staff/users', { username: 'new-staff', password: 'new-staff-pass', role: 'staff' });
    const id = idFrom(made.location);
    expect((await server().services.users.get(id)).role).toBe('staff');
    await admin.get(`/staff/users/${id}`);
    const res = await admin.post(`/staff/users/${id}/role`, { role: 'admin' });
    expect(pageText((await admin.follow(res)).text)).toContain('Role changed to admin.');
    expect((await server().services.users.get(id)).role).toBe('admin');
    await admin.post(`/staff/users/${id}/role`, { role: 'customer' });
    expect((await server().services.users.get(id)).role).toBe('customer');
    const reset = await admin.post(`/staff/users/${id}/totp-reset`);
    expect(reset.status).toBe(303);
  });

  it('keeps the last admin: it cannot be demoted or disabled, and nobody disables themselves', async () => {
    const me = (await server().services.users.findByUsername('ada-admin'))!;
    await admin.get(`/staff/users/${me.id}`);
    const demote = await admin.post(`/staff/users/${me.id}/role`, { role: 'staff' });
    expect(pageText((await admin.follow(demote)).text)).toContain('is the only enabled admin');
    const disable = await admin.post(`/staff/users/${me.id}/disable`, { disabled: '1' });
    expect(pageText((await admin.follow(disable)).text)).toContain('cannot disable your own sign-in');
    expect((await server().services.users.get(me.id)).role).toBe('admin');
  });

  it('refuses staff any admin-only work: roles, staff/admin accounts, two-factor resets', async () => {
    const ada = (await server().services.users.findByUsername('ada-admin'))!;
    const stan = (await server().services.users.findByUsername('stan-staff'))!;
    const cust = await makeUser(server(), 'role-target');
    await staff.get('/staff/users');
    const attempts: [string, Record<string, string>][] = [
      [`/staff/users/${cust.id}/role`, { role: 'staff' }],
      [`/staff/users/${stan.id}/role`, { role: 'admin' }],
      [`/staff/users/${ada.id}/role`, { role: 'customer' }],
      ['/staff/users', { username: 'staff-made-admin', password: 'some-pass-123', role: 'admin' }],
      ['/staff/users', { username: 'staff-made-staff', password: 'some-pass-123', role: 'staff' }],
      [`/staff/users/${ada.id}`, { email: 'owned@example.com' }],
      [`/staff/users/${ada.id}/disable`, { disabled: '1' }],
      [`/staff/users/${ada.id}/password`, { password: 'taken-over-123' }],
      [`/staff/users/${ada.id}/signout`, {}],
      [`/staff/users/${cust.id}/totp-reset`, {}],
    ];
    for (const [path, fields] of attempts) {
      const res = await staff.post(path, fields);
      expect(res.status, path).toBe(403);
    }
    expect((await server().services.users.get(cust.id)).role).toBe('customer');
    expect((await server().services.users.get(stan.id)).role).toBe('staff');
    expect(await server().services.users.get(ada.id)).toMatchObject({ role: 'admin', disabled: false, email: 'ada-admin@example.com' });
    expect(await server().services.users.findByUsername('staff-made-admin')).toBeNull();
    expect(await server().services.users.verifyPassword('ada-admin', 'taken-over-123')).toBeNull();
    // The page offers staff no role control at all.
    const page = await staff.get(`/staff/users/${cust.id}`);
    expect(page.text).not.toContain('/role"');
    expect(page.text).not.toContain('name="role"');
    // Staff still manage customers.
    expect((await staff.post(`/staff/users/${cust.id}`, { email: 'ok@example.com' })).status).toBe(303);
  });
});

eachDialect('dashboard: API tokens are admin-only', (server) => {
  it('lets an admin create a token (shown once, usable on the API) and revoke it; staff and customers get 403', async () => {
    const admin = await signedIn(server(), 'tok-admin', 'admin');
    const staff = await signedIn(server(), 'tok-staff', 'staff');
    const customer = await signedIn(server(), 'tok-cust', 'customer');
    expect((await admin.get('/staff')).text).toContain('href="/staff/tokens"');
    expect((await staff.get('/staff')).text).not.toContain('href="/staff/tokens"');
    for (const c of [staff, customer]) {
      expect((await c.get('/staff/tokens')).status).toBe(403);
      expect((await c.post('/staff/tokens', { name: 'sneaky', scopes: 'licenses:write' })).status).toBe(403);
    }
    expect(await server().services.tokens.list()).toHaveLength(0);

    await admin.get('/staff/tokens');
    const made = await admin.post('/staff/tokens', { name: 'faxstore-sync', scopes: ['licenses:read', 'products:read'] });
    expect(made.status).toBe(200);
    const token = /<code class="key" id="new-key" data-key>([^<]+)<\/code>/.exec(made.text)![1]!;
    expect(token).toMatch(/^kw_/);
    expect(pageText(made.text)).toContain('shown only this once');
    const list = await admin.get('/staff/tokens');
    expect(pageText(list.text)).toContain('faxstore-sync');
    expect(list.text).not.toContain(token);
    const principal = await server().services.tokens.authenticate(token);
    expect([...principal!.scopes].sort()).toEqual(['licenses:read', 'products:read']);

    const id = (await server().services.tokens.list())[0]!.id;
    expect((await staff.post(`/staff/tokens/${id}/revoke`, { confirm: 'yes' })).status).toBe(403);
    const ask = await admin.post(`/staff/tokens/${id}/revoke`);
    expect(pageText(ask.text)).toContain(`Revoke API token ${id}?`);
    const revoked = await admin.post(`/staff/tokens/${id}/revoke`, { confirm: 'yes' });
    expect(pageText((await admin.follow(revoked)).text)).toContain('Token "faxstore-sync" revoked.');
    expect(await server().services.tokens.authenticate(token)).toBeNull();
  });
});
