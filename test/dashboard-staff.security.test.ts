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
    expect(pageText((await admin.follow(demote)).text)).toContain('This is the only admin');
    const disable = await admin.post(`/staff/users/${me.id}/disable`, { disabled: '1' });
    expect(pageText((await admin.follow(disable)).text)).toContain('You cannot disable your own sign-in.');
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
