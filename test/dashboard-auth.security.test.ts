import { createHash } from 'node:crypto';
import { expect, it } from 'vitest';
import { makeUser, passwordOf, signedIn, signInByForm } from './helpers/dashboard.js';
import { reposOf } from './helpers/server.js';
import { eachDialect } from './helpers/suite.js';
import { cookieAttributes, pageText, WebClient } from './helpers/web-client.js';

const SESSION = '__Host-keyward_session';

eachDialect('dashboard security: cookies, CSRF, headers, escaping', (server) => {
  const client = () => new WebClient(server().url, server().services.config.PUBLIC_URL);

  it('puts the session in an HttpOnly, SameSite=Lax, Secure (__Host-) cookie and stores only its hash', async () => {
    await makeUser(server(), 'sec-cookie');
    const c = client();
    const login = await c.get('/login');
    const csrfCookie = cookieAttributes(login.setCookies, '__Host-keyward_csrf')!;
    expect(csrfCookie.has('httponly')).toBe(true);
    expect(csrfCookie.get('samesite')).toBe('Lax');
    expect(csrfCookie.has('secure')).toBe(true);
    const res = await c.post('/login', { login: 'sec-cookie', password: passwordOf('sec-cookie') });
    const attrs = cookieAttributes(res.setCookies, SESSION)!;
    expect(attrs).not.toBeNull();
    expect(attrs.has('httponly')).toBe(true);
    expect(attrs.get('samesite')).toBe('Lax');
    expect(attrs.has('secure')).toBe(true);
    expect(attrs.get('path')).toBe('/');
    expect(attrs.has('domain')).toBe(false);
    const token = c.cookies.get(SESSION)!;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const rows = await server().internal.storage.db.selectFrom('sessions').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(token);
    expect(rows.map((r) => r.token_hash)).toContain(createHash('sha256').update(token).digest('hex'));
  });

  it('rotates the session on sign-in (a cookie planted before sign-in is not the one signed in)', async () => {
    await makeUser(server(), 'sec-fixation');
    const c = client();
    c.cookies.set(SESSION, 'A'.repeat(43));
    await c.get('/login');
    await c.post('/login', { login: 'sec-fixation', password: passwordOf('sec-fixation') });
    expect(c.cookies.get(SESSION)).not.toBe('A'.repeat(43));
  });

  it('refuses every state-changing request without a valid CSRF token, and changes nothing', async () => {
    const admin = await signedIn(server(), 'sec-csrf-admin', 'admin');
    const { id } = await server().issue([8], { owner: 'sec-csrf-admin' });
    const other = await makeUser(server(), 'sec-csrf-victim');
    const posts: [string, Record<string, string>][] = [
      ['/login', { login: 'sec-csrf-admin', password: passwordOf('x') }],
      ['/logout', {}],
      ['/logout/everywhere', {}],
      ['/account/password', { current: passwordOf('x'), password: 'new-pass-123', password2: 'new-pass-123' }],
      ['/account/totp/begin', {}],
      ['/account/discord/unlink', {}],
      [`/licenses/${id}/reveal`, {}],
      [`/licenses/${id}/ips`, { ips: '10.0.0.1' }],
      [`/licenses/${id}/active`, { active: '0' }],
      [`/licenses/${id}/regenerate`, { confirm: 'yes' }],
      ['/staff/products', { name: 'Evil product' }],
      ['/staff/products/8', { name: 'Renamed' }],
      ['/staff/products/8/delete', { confirm: 'yes' }],
      ['/staff/licenses', { productIds: '8' }],
      ['/staff/licenses/find', { key: 'x' }],
      ['/staff/licenses/bulk', { ids: String(id), action: 'disable' }],
      [`/staff/licenses/${id}`, { productIds: '8', note: 'changed' }],
      [`/staff/licenses/${id}/disable`, { disabled: '1' }],
      [`/staff/licenses/${id}/lock`, { ipLocked: '1' }],
      [`/staff/licenses/${id}/regenerate`, { confirm: 'yes' }],
      [`/staff/licenses/${id}/delete`, { confirm: 'yes' }],
      ['/staff/users', { username: 'csrf-made', role: 'admin' }],
      [`/staff/users/${other.id}`, { email: 'evil@example.com' }],
      [`/staff/users/${other.id}/role`, { role: 'admin' }],
      [`/staff/users/${other.id}/disable`, { disabled: '1' }],
      [`/staff/users/${other.id}/password`, { password: 'new-pass-123' }],
      [`/staff/users/${other.id}/signout`, {}],
      [`/staff/users/${other.id}/totp-reset`, {}],
      ['/staff/tokens', { name: 'csrf-token', scopes: 'licenses:write' }],
      ['/staff/tokens/1/revoke', { confirm: 'yes' }],
      ['/setup', { token: 'x', username: 'x', password: 'x' }],
      ['/signup', { username: 'x', password: 'x' }],
    ];
    const before = await server().services.licenses.show(id);
    for (const [path, fields] of posts) {
      for (const csrf of [false, 'forged-token', ''] as const) {
        const res = await admin.post(path, fields, { csrf });
        expect(res.status, `${path} with csrf=${String(csrf)}`).toBe(403);
        expect(pageText(res.text)).toContain('Form expired');
      }
    }
    // A token from another session (another browser) does not work either.
    const otherClient = await signedIn(server(), 'sec-csrf-other', 'staff');
    const stolen = otherClient.csrf;
    expect((await admin.post('/staff/products', { name: 'X' }, { csrf: stolen })).status).toBe(403);
    expect(await server().services.licenses.show(id)).toEqual(before);
    expect((await server().services.users.get(other.id)).role).toBe('customer');
    expect(await server().services.users.findByUsername('csrf-made')).toBeNull();
    // Still signed in: the refused /logout did nothing.
    expect((await admin.get('/staff')).status).toBe(200);
    // And with the page's own token the same request works.
    expect((await admin.post('/staff/products', { name: 'Made with a token', id: '4242' })).status).toBe(303);
  });

  it('accepts the CSRF token in the X-CSRF-Token header (the page script uses it)', async () => {
    const c = await signedIn(server(), 'sec-header', 'customer');
    const { id, key } = await server().issue([8], { owner: 'sec-header' });
    await c.get(`/licenses/${id}`);
    const res = await c.post(`/licenses/${id}/reveal`, {}, { csrf: false, headers: { 'x-csrf-token': c.csrf, accept: 'application/json' } });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ key });
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('sends strict security headers on every page: CSP without inline script, no framing, nosniff, referrer policy', async () => {
    const c = await signedIn(server(), 'sec-headers', 'admin');
    const { id } = await server().issue([8], { owner: 'sec-headers' });
    for (const path of ['/account', '/licenses', `/licenses/${id}`, '/staff', '/staff/licenses', `/staff/licenses/${id}`, '/staff/users', '/staff/products', '/staff/audit', '/staff/checks']) {
      const res = await c.get(path);
      expect(res.status, path).toBe(200);
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('referrer-policy')).toBe('same-origin');
      expect(res.headers.get('strict-transport-security')).toContain('max-age=');
      expect(res.headers.get('cache-control')).toBe('no-store');
      // Every script is a file; no inline script, no inline handlers, no inline styles.
      for (const tag of res.text.match(/<script[^>]*>/g) ?? []) expect(tag, path).toMatch(/src="\/assets\//);
      expect(res.text, path).not.toMatch(/\son[a-z]+=/i);
      expect(res.text, path).not.toMatch(/\sstyle=/i);
    }
    const login = await client().get('/login');
    expect(login.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  });

  it('escapes everything it prints: names, notes, IPs, user agents and check info', async () => {
    const xss = '<script>alert("x")</script>&\'';
    const admin = await signedIn(server(), 'sec-xss', 'admin');
    const { id, key } = await server().issue([666], { owner: 'sec-xss', note: xss });
    await server().services.products.update(666, { name: xss, description: xss }, 'test');
    await fetch(`${server().url}/api/check/666?info=${encodeURIComponent(xss)}`, { method: 'POST', headers: { authorization: key, 'user-agent': xss } });
    await server().flush();
    for (const path of ['/staff/products', '/staff/products/666', `/staff/licenses/${id}`, '/staff/licenses', '/staff/checks', '/staff/audit', '/licenses', `/licenses/${id}`]) {
      const res = await admin.get(path);
      expect(res.status, path).toBe(200);
      expect(res.text, path).not.toContain('<script>alert');
      expect(res.text, path).toContain('&lt;script&gt;alert(');
    }
  });

  it('ends a disabled user’s sessions and refuses their sign-in', async () => {
    const user = await makeUser(server(), 'sec-disabled');
    const c = await signInByForm(server(), 'sec-disabled');
    expect((await c.get('/licenses')).status).toBe(200);
    await server().services.users.update(user.id, { disabled: true }, 'test');
    expect((await c.get('/licenses')).status).toBe(303);
    const again = client();
    expect((await again.signIn('sec-disabled', passwordOf('sec-disabled'))).status).toBe(401);
  });

  it('treats a forged or malformed session cookie as signed out', async () => {
    for (const value of ['x', 'A'.repeat(43), '../../etc/passwd', '%00']) {
      const c = client();
      c.cookies.set(SESSION, value);
      const res = await c.get('/licenses');
      expect(res.status).toBe(303);
      expect(res.location).toContain('/login');
    }
  });
});

eachDialect(
  'dashboard sign-in throttling',
  (server) => {
    const from = (ip: string) => {
      const c = new WebClient(server().url);
      const get = c.get.bind(c);
      const post = c.post.bind(c);
      c.get = (path, headers = {}) => get(path, { 'x-real-ip': ip, ...headers });
      c.post = (path, fields, opts = {}) => post(path, fields, { ...opts, headers: { 'x-real-ip': ip, ...(opts.headers ?? {}) } });
      return c;
    };

    it('locks an account after 5 wrong passwords, even for the right one, and says so', async () => {
      await makeUser(server(), 'thr-acct');
      const c = from('198.51.100.1');
      for (let i = 0; i < 5; i++) {
        await c.get('/login');
        expect((await c.post('/login', { login: 'thr-acct', password: `wrong-${i}` })).status).toBe(401);
      }
      await c.get('/login');
      const locked = await c.post('/login', { login: 'thr-acct', password: passwordOf('thr-acct') });
      expect(locked.status).toBe(429);
      expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(pageText(locked.text)).toContain('Too many failed sign-ins');
      // Per account, whatever the IP (and whatever the letter case).
      const elsewhere = from('198.51.100.2');
      await elsewhere.get('/login');
      expect((await elsewhere.post('/login', { login: 'THR-ACCT', password: passwordOf('thr-acct') })).status).toBe(429);
      // Other accounts are unaffected.
      await makeUser(server(), 'thr-other');
      expect((await elsewhere.signIn('thr-other', passwordOf('thr-other'))).status).toBe(303);
    });

    it('throttles an IP that fails across many accounts, and only that IP', async () => {
      await makeUser(server(), 'thr-ip-victim');
      const ip = '203.0.113.66';
      // 18 earlier failures from this IP (as the throttle records them), then two real ones.
      await reposOf(server()).sessions.addFailures(Array.from({ length: 18 }, () => `ip:${ip}`), Date.now());
      const c = from(ip);
      for (const login of ['spray-1', 'spray-2']) {
        await c.get('/login');
        expect((await c.post('/login', { login, password: 'guess' })).status).toBe(401);
      }
      await c.get('/login');
      expect((await c.post('/login', { login: 'thr-ip-victim', password: passwordOf('thr-ip-victim') })).status).toBe(429);
      const d = from('203.0.113.67');
      expect((await d.signIn('thr-ip-victim', passwordOf('thr-ip-victim'))).status).toBe(303);
    });

    it('forgets an account’s failures after a successful sign-in', async () => {
      await makeUser(server(), 'thr-forgive');
      const c = from('198.51.100.9');
      for (let i = 0; i < 4; i++) {
        await c.get('/login');
        await c.post('/login', { login: 'thr-forgive', password: 'wrong' });
      }
      expect((await c.signIn('thr-forgive', passwordOf('thr-forgive'))).status).toBe(303);
      const d = from('198.51.100.10');
      await d.get('/login');
      await d.post('/login', { login: 'thr-forgive', password: 'wrong' });
      expect((await d.signIn('thr-forgive', passwordOf('thr-forgive'))).status).toBe(303);
    });
  },
  { TRUST_PROXY: 'loopback' },
);
