import { Secret, TOTP } from 'otpauth';
import { afterAll, expect, it } from 'vitest';
import { makeUser, signedIn, TEST_PASSWORD } from './helpers/dashboard.js';
import { OAuthStandIn } from './helpers/oauth-stand-in.js';
import { eachDialect, PUBLIC_URL } from './helpers/suite.js';
import { reposOf, type TestServer } from './helpers/server.js';
import { pageText, WebClient } from './helpers/web-client.js';

// The stand-in must be listening before the servers start: they read its URLs from the environment.
const oauth = await new OAuthStandIn().start();
afterAll(() => oauth.close());

/** The sign-in limits of docs/dashboard.md: per account name (and per user's codes), per IP, per IP's sign-ups. */
const PER_ACCOUNT = 5;
const PER_IP = 20;
const SIGNUPS_PER_IP = 5;

const codeAt = (secret: string, offsetSeconds = 0) =>
  new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp: Date.now() + offsetSeconds * 1000 });
/** A six-digit code that is none of the codes accepted around now. */
function wrongCode(secret: string): string {
  const accepted = new Set([-30, 0, 30].map((s) => codeAt(secret, s)));
  for (let n = 123456; ; n++) if (!accepted.has(String(n))) return String(n);
}

/** Turns two-factor sign-in on for a user, straight in the database; returns the base32 secret. */
async function withTotp(server: TestServer, username: string): Promise<string> {
  const user = (await server.services.users.findByUsername(username))!;
  const secret = new Secret({ size: 20 }).base32;
  await reposOf(server).users.setTotp(user.id, server.internal.cipher.encrypt(secret), true, Date.now());
  return secret;
}

eachDialect(
  'dashboard sign-in under attack',
  (server) => {
    /** A browser whose requests come from `ip` (the server trusts X-Real-IP from loopback). */
    const from = (ip: string) => {
      const c = new WebClient(server().url, PUBLIC_URL);
      const get = c.get.bind(c);
      const post = c.post.bind(c);
      c.get = (path, headers = {}) => get(path, { 'x-real-ip': ip, ...headers });
      c.post = (path, fields, opts = {}) => post(path, fields, { ...opts, headers: { 'x-real-ip': ip, ...(opts.headers ?? {}) } });
      return c;
    };

    it('tests at most 5 passwords of 100 sent in parallel for one account, the right one among them', async () => {
      await makeUser(server(), 'race-account');
      const c = from('198.51.100.101');
      await c.get('/login');
      const passwords = Array.from({ length: 100 }, (_, i) => (i === 50 ? TEST_PASSWORD : `wrong-${i}`));
      const answers = await Promise.all(passwords.map((password) => c.post('/login', { login: 'race-account', password })));
      const statuses = answers.map((a) => a.status);
      for (const s of statuses) expect([303, 401, 429]).toContain(s);
      const tested = statuses.filter((s) => s !== 429).length;
      expect(tested).toBeGreaterThan(0);
      expect(tested).toBeLessThanOrEqual(PER_ACCOUNT);
      // The right password signs in only if it was one of the attempts let through.
      expect([303, 429]).toContain(statuses[50]);
    });

    it('tests 20 passwords, no more, of 100 sent in parallel from one IP across many accounts', async () => {
      const c = from('198.51.100.102');
      await c.get('/login');
      const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => c.post('/login', { login: `spray-${i}`, password: 'guess' })));
      const tested = answers.filter((a) => a.status !== 429).length;
      for (const a of answers) expect([401, 429]).toContain(a.status);
      // Exactly the limit: the burst is neither let through nor refused whole.
      expect(tested).toBe(PER_IP);
    });

    it('creates 5 accounts, no more, from 15 sign-ups sent in parallel from one IP', async () => {
      const c = from('198.51.100.103');
      await c.get('/signup');
      const answers = await Promise.all(
        Array.from({ length: 15 }, (_, i) =>
          c.post('/signup', { username: `burst-${i}`, email: `burst-${i}@example.com`, password: TEST_PASSWORD, password2: TEST_PASSWORD }),
        ),
      );
      for (const a of answers) expect([303, 429]).toContain(a.status);
      const created = (await server().internal.storage.db.selectFrom('users').select('username').where('username', 'like', 'burst-%').execute()).length;
      expect(created).toBe(answers.filter((a) => a.status === 303).length);
      expect(created).toBe(SIGNUPS_PER_IP);
    });

    it('blocks two-factor guessing per account even when the right password is entered again from new IPs each time', async () => {
      await makeUser(server(), 'totp-guessed', 'staff');
      const secret = await withTotp(server(), 'totp-guessed');
      for (let i = 0; i < PER_ACCOUNT; i++) {
        const c = from(`203.0.113.${10 + i}`);
        expect((await c.signIn('totp-guessed', TEST_PASSWORD)).location).toBe('/login/totp?next=%2F');
        await c.get('/login/totp');
        expect((await c.post('/login/totp', { code: wrongCode(secret) })).status).toBe(401);
      }
      // The password is still right (and still accepted), but the account's code guesses are used up.
      const c = from('203.0.113.99');
      expect((await c.signIn('totp-guessed', TEST_PASSWORD)).location).toBe('/login/totp?next=%2F');
      await c.get('/login/totp');
      const locked = await c.post('/login/totp', { code: codeAt(secret) });
      expect(locked.status).toBe(429);
      expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await c.get('/account')).status).toBe(303);
    });

    it('forgets wrong codes after a full sign-in with the second factor', async () => {
      await makeUser(server(), 'totp-forgiven', 'staff');
      const secret = await withTotp(server(), 'totp-forgiven');
      const attempt = async (ip: string, code: string) => {
        const c = from(ip);
        await c.signIn('totp-forgiven', TEST_PASSWORD);
        await c.get('/login/totp');
        return (await c.post('/login/totp', { code })).status;
      };
      for (let i = 0; i < PER_ACCOUNT - 1; i++) expect(await attempt(`203.0.113.${120 + i}`, wrongCode(secret))).toBe(401);
      expect(await attempt('203.0.113.130', codeAt(secret))).toBe(303);
      for (let i = 0; i < PER_ACCOUNT - 1; i++) expect(await attempt(`203.0.113.${140 + i}`, wrongCode(secret))).toBe(401);
      expect(await attempt('203.0.113.150', codeAt(secret, 30))).toBe(303);
    });

    it('lets a session that still owes its two-factor code sign out only itself, not everywhere', async () => {
      const owner = await signedIn(server(), 'half-signed', 'staff');
      await withTotp(server(), 'half-signed');
      expect((await owner.get('/account')).status).toBe(200);
      // Someone with the password only: a session that still owes the code.
      const half = from('203.0.113.200');
      expect((await half.signIn('half-signed', TEST_PASSWORD)).location).toBe('/login/totp?next=%2F');
      await half.get('/login/totp');
      const refused = await half.post('/logout/everywhere');
      expect(refused.status).toBe(403);
      expect((await owner.get('/account')).status).toBe(200);
      // It may still end itself.
      await half.get('/login/totp');
      expect((await half.post('/logout')).location).toBe('/login');
      expect((await half.get('/login/totp')).location).toBe('/login');
      expect((await owner.get('/account')).status).toBe(200);
      // A full session still signs out everywhere.
      expect((await owner.post('/logout/everywhere')).location).toBe('/login');
      expect((await owner.get('/account')).status).toBe(303);
    });

    it('throttles code guessing on the turn-two-factor-off form, counted with the sign-in codes', async () => {
      const c = await signedIn(server(), 'totp-off-guessed', 'staff');
      const secret = await withTotp(server(), 'totp-off-guessed');
      for (let i = 0; i < PER_ACCOUNT; i++) {
        await c.get('/account');
        const wrong = await c.post('/account/totp/disable', { code: wrongCode(secret) });
        expect(pageText((await c.follow(wrong)).text)).toContain('two-factor sign-in stays on');
      }
      await c.get('/account');
      const locked = await c.post('/account/totp/disable', { code: codeAt(secret) });
      expect(pageText((await c.follow(locked)).text)).toContain('Too many wrong codes');
      const row = await server().internal.storage.db.selectFrom('users').select(['totp_enabled', 'totp_secret']).where('username', '=', 'totp-off-guessed').executeTakeFirstOrThrow();
      expect(row.totp_enabled).toBe(1);
      expect(row.totp_secret).not.toBeNull();
      // The same count guards the sign-in's second step.
      const d = from('203.0.113.210');
      await d.signIn('totp-off-guessed', TEST_PASSWORD);
      await d.get('/login/totp');
      expect((await d.post('/login/totp', { code: codeAt(secret) })).status).toBe(429);
    });

    it('never links a Discord account through a forged or planted flow cookie', async () => {
      const victim = await signedIn(server(), 'oauth-victim', 'staff');
      const victimId = (await server().services.users.findByUsername('oauth-victim'))!.id;
      oauth.nextUser = { id: '400000000000000001', username: 'attacker' };
      /** The attacker's own authorisation at the stand-in, for a state of their choosing. */
      const attackerCallback = async (state: string) => {
        const authorize = new URL(`${oauth.url}/authorize`);
        authorize.search = new URLSearchParams({ client_id: oauth.clientId, response_type: 'code', redirect_uri: `${PUBLIC_URL}/auth/discord/callback`, state }).toString();
        const back = new URL((await fetch(authorize, { redirect: 'manual' })).headers.get('location')!);
        return `${back.pathname}${back.search}`;
      };
      const linked = async () => (await server().services.users.findByDiscordId('400000000000000001'))?.username ?? null;

      // 1. A flow cookie written by hand: link mode, the victim's user id, the attacker's state.
      const forged = Buffer.from(JSON.stringify({ state: 'S'.repeat(32), mode: 'link', next: '/', userId: victimId })).toString('base64url');
      for (const name of ['keyward_oauth', '__Host-keyward_oauth']) victim.cookies.set(name, forged);
      const res = await victim.get(await attackerCallback('S'.repeat(32)));
      expect(res.status).toBe(400);
      expect(await linked()).toBeNull();

      // 2. A genuine cookie from the attacker's own link flow, planted in the victim's browser.
      const attacker = await signedIn(server(), 'oauth-attacker', 'customer');
      const begin = await attacker.get('/auth/discord?link=1');
      const state = new URL(begin.location!).searchParams.get('state')!;
      const name = [...attacker.cookies.keys()].find((k) => k.endsWith('keyward_oauth'))!;
      victim.cookies.set(name, attacker.cookies.get(name)!);
      const planted = await victim.get(await attackerCallback(state));
      expect(planted.status).toBe(400);
      expect(await linked()).toBeNull();
      expect((await server().services.users.findByUsername('oauth-victim'))!.discordId ?? null).toBeNull();
    });
  },
  { TRUST_PROXY: 'loopback', SIGNUP: 'open', ...oauth.env },
);
