import { Secret, TOTP } from 'otpauth';
import { expect, it } from 'vitest';
import { makeUser, signedIn, TEST_PASSWORD } from './helpers/dashboard.js';
import { eachDialect } from './helpers/suite.js';
import { pageText, WebClient } from './helpers/web-client.js';

const codeAt = (secret: string, offsetSeconds = 0) =>
  new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp: Date.now() + offsetSeconds * 1000 });

eachDialect('dashboard two-factor sign-in (TOTP) for staff and admins', (server) => {
  /** Enrols the user through the account page; returns the base32 secret. */
  async function enrol(c: WebClient): Promise<string> {
    const account = await c.get('/account');
    expect(pageText(account.text)).toContain('Set up two-factor sign-in');
    await c.follow(await c.post('/account/totp/begin'));
    const page = await c.get('/account');
    const secret = /id="totp-secret">([A-Z2-7]+)</.exec(page.text)![1]!;
    expect(page.text).toContain('otpauth://totp/');
    const wrong = await c.post('/account/totp/confirm', { code: '000000' === codeAt(secret) ? '111111' : '000000' });
    expect(pageText((await c.follow(wrong)).text)).toContain('That code is not right');
    const ok = await c.post('/account/totp/confirm', { code: codeAt(secret) });
    expect(pageText((await c.follow(ok)).text)).toContain('Two-factor sign-in is on.');
    return secret;
  }

  it('enrols, stores the secret encrypted, then asks for a code at sign-in before anything opens', async () => {
    const staff = await signedIn(server(), 'tf-staff', 'staff');
    const secret = await enrol(staff);
    const row = await server().internal.storage.db.selectFrom('users').selectAll().where('username', '=', 'tf-staff').executeTakeFirstOrThrow();
    expect(row.totp_enabled).toBe(1);
    expect(row.totp_secret).not.toContain(secret);
    expect(row.totp_secret).toMatch(/^v1:/);

    const c = new WebClient(server().url);
    await c.get('/login');
    const first = await c.post('/login', { login: 'tf-staff', password: TEST_PASSWORD, next: '/staff/users' });
    expect(first.status).toBe(303);
    expect(first.location).toBe('/login/totp?next=%2Fstaff%2Fusers');
    // Password alone opens nothing.
    for (const path of ['/staff', '/licenses', '/account']) expect((await c.get(path)).status).toBe(303);
    const prompt = await c.get(first.location!);
    expect(pageText(prompt.text)).toContain('Enter the 6-digit code');
    const bad = await c.post('/login/totp', { code: '12345x', next: '/staff/users' });
    expect(bad.status).toBe(401);
    // The next step's code (within the ±1 step window, and not the one used to enrol).
    const code = codeAt(secret, 30);
    const ok = await c.post('/login/totp', { code, next: '/staff/users' });
    expect(ok.status).toBe(303);
    expect(ok.location).toBe('/staff/users');
    expect((await c.get('/staff/users')).status).toBe(200);

    // The same code cannot be used again (replay).
    const d = new WebClient(server().url);
    await d.get('/login');
    await d.post('/login', { login: 'tf-staff', password: TEST_PASSWORD });
    await d.get('/login/totp');
    const replay = await d.post('/login/totp', { code });
    expect(replay.status).toBe(401);
    expect(pageText(replay.text)).toContain('already used');
  });

  it('throttles wrong codes like wrong passwords', async () => {
    const staff = await signedIn(server(), 'tf-throttle', 'admin');
    const secret = await enrol(staff);
    const c = new WebClient(server().url);
    await c.get('/login');
    await c.post('/login', { login: 'tf-throttle', password: TEST_PASSWORD });
    await c.get('/login/totp');
    for (let i = 0; i < 5; i++) expect((await c.post('/login/totp', { code: '999999' === codeAt(secret) ? '888888' : '999999' })).status).toBe(401);
    const locked = await c.post('/login/totp', { code: codeAt(secret, 30) });
    expect(locked.status).toBe(429);
  });

  it('turns two-factor off only with a valid code; an admin can reset it for a user', async () => {
    const staff = await signedIn(server(), 'tf-off', 'staff');
    const secret = await enrol(staff);
    // Let the enrolment's step pass so the current code is fresh again.
    await server().internal.storage.db.updateTable('users').set({ totp_last_step: null }).where('username', '=', 'tf-off').execute();
    const refused = await staff.post('/account/totp/disable', { code: '000000' === codeAt(secret) ? '111111' : '000000' });
    expect(pageText((await staff.follow(refused)).text)).toContain('two-factor sign-in stays on');
    const off = await staff.post('/account/totp/disable', { code: codeAt(secret) });
    expect(pageText((await staff.follow(off)).text)).toContain('Two-factor sign-in is off.');
    expect((await server().internal.storage.db.selectFrom('users').select('totp_secret').where('username', '=', 'tf-off').executeTakeFirstOrThrow()).totp_secret).toBeNull();

    await enrol(staff);
    const admin = await signedIn(server(), 'tf-admin', 'admin');
    const target = (await server().services.users.findByUsername('tf-off'))!;
    const page = await admin.get(`/staff/users/${target.id}`);
    expect(pageText(page.text)).toContain('Reset two-factor');
    await admin.post(`/staff/users/${target.id}/totp-reset`);
    const c = new WebClient(server().url);
    expect((await c.signIn('tf-off', TEST_PASSWORD)).location).toBe('/staff');
    const audit = await server().services.logs.audit({ targetType: 'user', targetId: String(target.id) });
    expect(audit.map((a) => a.action)).toEqual(expect.arrayContaining(['user.totp_enabled', 'user.totp_disabled']));
  });

  it('offers two-factor to staff and admins only', async () => {
    await makeUser(server(), 'tf-customer');
    const c = await signedIn(server(), 'tf-customer');
    expect(pageText((await c.get('/account')).text)).not.toContain('Two-factor');
    expect((await c.post('/account/totp/begin')).status).toBe(403);
  });
});
