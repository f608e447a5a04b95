import { expect, it } from 'vitest';
import { makeUser, passwordOf, signedIn, signInByForm } from './helpers/dashboard.js';
import { eachDialect } from './helpers/suite.js';
import { pageText, WebClient } from './helpers/web-client.js';

eachDialect('dashboard sign-in and sessions', (server) => {
  const client = () => new WebClient(server().url, server().services.config.PUBLIC_URL);

  it('sends a signed-out visitor from / to /login, which shows the sign-in form', async () => {
    const c = client();
    const root = await c.get('/');
    expect(root.status).toBe(303);
    expect(root.location).toBe('/login');
    const login = await c.get('/login');
    expect(login.status).toBe(200);
    expect(login.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(login.text).toContain('<form method="post" action="/login"');
    expect(login.text).toContain('name="_csrf"');
    // SIGNUP=closed (the default): no sign-up link, and the page is not there.
    expect(login.text).not.toContain('/signup');
    expect((await c.get('/signup')).status).toBe(404);
  });

  it('signs a customer in to their licenses and staff to the overview; / then follows the role', async () => {
    await makeUser(server(), 'hap-cust');
    await makeUser(server(), 'hap-staff', 'staff');
    const cust = client();
    const res = await cust.signIn('hap-cust', passwordOf('hap-cust'));
    expect(res.status).toBe(303);
    expect(res.location).toBe('/licenses');
    expect((await cust.get('/')).location).toBe('/licenses');
    const page = await cust.get('/licenses');
    expect(page.status).toBe(200);
    expect(pageText(page.text)).toContain('My licenses');

    const staff = client();
    expect((await staff.signIn('hap-staff@example.com', passwordOf('hap-staff'))).location).toBe('/staff');
    expect((await staff.get('/')).location).toBe('/staff');
  });

  it('returns to the page asked for before sign-in, but only on this site', async () => {
    await makeUser(server(), 'hap-next');
    const c = client();
    const asked = await c.get('/account');
    expect(asked.status).toBe(303);
    expect(asked.location).toBe('/login?next=%2Faccount');
    await c.get(asked.location!);
    const res = await c.post('/login', { login: 'hap-next', password: passwordOf('hap-next'), next: '/account' });
    expect(res.location).toBe('/account');

    for (const next of ['//evil.example/x']) {
      const d = client();
      await d.get('/login');
      const r = await d.post('/login', { login: 'hap-next', password: passwordOf('hap-next'), next });
      expect(r.status).toBe(303);
      expect(r.location).toBe('/licenses');
    }
  });

  it('refuses a wrong password with the same message as an unknown user', async () => {
    await makeUser(server(), 'hap-wrong');
    const c = client();
    await c.get('/login');
    const wrong = await c.post('/login', { login: 'hap-wrong', password: 'not-the-password' });
    await c.get('/login');
    const unknown = await c.post('/login', { login: 'nobody-here', password: 'not-the-password' });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const msg = (t: string) => /role="alert">([^<]*)</.exec(t)?.[1];
    expect(msg(wrong.text)).toBe(msg(unknown.text));
    expect(wrong.text).toContain('value="hap-wrong"');
  });

  it('signs out: the session dies on the server, not just in the browser', async () => {
    const c = await signedIn(server(), 'hap-out', 'customer');
    const token = [...c.cookies].find(([k]) => k.includes('keyward_session'))![1];
    expect((await c.get('/licenses')).status).toBe(200);
    const out = await c.post('/logout');
    expect(out.status).toBe(303);
    expect(out.location).toBe('/login');
    expect(c.cookies.has('__Host-keyward_session')).toBe(false);
    // The old cookie, replayed, no longer opens anything.
    const replay = new WebClient(server().url);
    replay.cookies.set('__Host-keyward_session', token);
    const res = await replay.get('/licenses');
    expect(res.status).toBe(303);
    expect(res.location).toBe('/login?next=%2Flicenses');
  });

  it('"sign out everywhere" ends every session of the user, on every device', async () => {
    await makeUser(server(), 'hap-every');
    const laptop = await signInByForm(server(), 'hap-every');
    const phone = await signedIn(server(), 'hap-every');
    const other = await signedIn(server(), 'hap-every-other', 'customer');
    const account = await laptop.get('/account');
    expect(pageText(account.text)).toContain('Sign out everywhere');
    expect(account.text.match(/<li><strong>/g)?.length).toBe(2);
    const res = await laptop.post('/logout/everywhere');
    expect(res.status).toBe(303);
    expect((await laptop.get('/licenses')).status).toBe(303);
    expect((await phone.get('/licenses')).status).toBe(303);
    // Someone else's session is untouched.
    expect((await other.get('/licenses')).status).toBe(200);
  });

  it('shows the account page with sessions, and changes the password (ending other sessions)', async () => {
    await makeUser(server(), 'hap-pw');
    const a = await signedIn(server(), 'hap-pw');
    const b = await signedIn(server(), 'hap-pw');
    await a.get('/account');
    const bad = await a.post('/account/password', { current: 'wrong-password', password: 'new-password-1', password2: 'new-password-1' });
    expect(pageText((await a.follow(bad)).text)).toContain('Your current password is not right.');
    const ok = await a.post('/account/password', { current: passwordOf('hap-pw'), password: 'new-password-1', password2: 'new-password-1' });
    expect(pageText((await a.follow(ok)).text)).toContain('Password changed.');
    expect((await a.get('/account')).status).toBe(200);
    expect((await b.get('/account')).status).toBe(303);
    const fresh = client();
    expect((await fresh.signIn('hap-pw', 'new-password-1')).status).toBe(303);
    expect(await server().services.users.verifyPassword('hap-pw', passwordOf('hap-pw'))).toBeNull();
  });

  it('serves the static CSS and JS from the source tree', async () => {
    const c = client();
    const css = await c.get('/assets/app.css');
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toContain('text/css');
    expect(css.text).toContain('.card');
    const js = await c.get('/assets/app.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toContain('javascript');
  });
});

eachDialect(
  'dashboard sign-up when SIGNUP=open',
  (server) => {
    it('lets a visitor create a customer account and signs them in', async () => {
      const c = new WebClient(server().url);
      const login = await c.get('/login');
      expect(login.text).toContain('href="/signup"');
      await c.get('/signup');
      const differ = await c.post('/signup', { username: 'newbie', email: '', password: 'newbie-pass-1', password2: 'other-pass-1' });
      expect(differ.status).toBe(400);
      expect(pageText(differ.text)).toContain('The two passwords differ.');
      const res = await c.post('/signup', { username: 'newbie', email: 'newbie@example.com', password: 'newbie-pass-1', password2: 'newbie-pass-1' });
      expect(res.status).toBe(303);
      expect(res.location).toBe('/licenses');
      expect((await c.get('/licenses')).status).toBe(200);
      const user = await server().services.users.findByUsername('newbie');
      expect(user).toMatchObject({ role: 'customer', email: 'newbie@example.com' });
      // Whatever the form says, sign-up never makes staff.
      const d = new WebClient(server().url);
      await d.get('/signup');
      await d.post('/signup', { username: 'sneaky', password: 'sneaky-pass-1', password2: 'sneaky-pass-1', role: 'admin' });
      expect((await server().services.users.findByUsername('sneaky'))?.role).toBe('customer');
    });

    it('refuses a taken username with the reason', async () => {
      const c = new WebClient(server().url);
      await c.get('/signup');
      await c.post('/signup', { username: 'twice', password: 'twice-pass-1', password2: 'twice-pass-1' });
      const d = new WebClient(server().url);
      await d.get('/signup');
      const res = await d.post('/signup', { username: 'twice', password: 'twice-pass-1', password2: 'twice-pass-1' });
      expect(res.status).toBe(409);
      expect(pageText(res.text)).toContain('username "twice" is taken');
    });
  },
  { SIGNUP: 'open' },
);
