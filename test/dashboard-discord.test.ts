import { afterAll, expect, it } from 'vitest';
import { makeUser, signedIn } from './helpers/dashboard.js';
import { OAuthStandIn } from './helpers/oauth-stand-in.js';
import { eachDialect } from './helpers/suite.js';
import { pageText, WebClient } from './helpers/web-client.js';

// The stand-in must be listening before the servers start: they read its URLs from the environment.
const oauth = await new OAuthStandIn().start();
afterAll(() => oauth.close());

/** Runs the browser's side of the flow: Keyward → stand-in authorize → back to Keyward's callback. */
async function discordFlow(c: WebClient, start = '/auth/discord') {
  const begin = await c.get(start);
  expect(begin.status).toBe(302);
  const authorize = new URL(begin.location!);
  expect(authorize.origin).toBe(oauth.url);
  const redirect = await fetch(authorize, { redirect: 'manual' });
  expect(redirect.status).toBe(302);
  const callback = new URL(redirect.headers.get('location')!);
  return { authorize, callback, answer: await c.get(`${callback.pathname}${callback.search}`) };
}

eachDialect(
  'dashboard Discord sign-in against a stand-in OAuth server',
  (server) => {
    const client = () => new WebClient(server().url, server().services.config.PUBLIC_URL);

    it('offers Discord on the sign-in page and sends the browser to the authorize URL with state', async () => {
      const c = client();
      expect((await c.get('/login')).text).toContain('href="/auth/discord?next=%2F"');
      const begin = await c.get('/auth/discord');
      const url = new URL(begin.location!);
      expect(url.pathname).toBe('/authorize');
      expect(url.searchParams.get('client_id')).toBe('test-client-id');
      expect(url.searchParams.get('response_type')).toBe('code');
      expect(url.searchParams.get('scope')).toBe('identify');
      expect(url.searchParams.get('redirect_uri')).toBe(`${server().services.config.PUBLIC_URL}/auth/discord/callback`);
      expect(url.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{32}$/);
      // Over https: Secure with the __Host- prefix (so no other host can plant it), and signed.
      const stateCookie = begin.setCookies.find((l) => l.startsWith('__Host-keyward_oauth='))!;
      expect(stateCookie).toMatch(/HttpOnly/i);
      expect(stateCookie).toMatch(/SameSite=Lax/i);
      expect(stateCookie).toMatch(/; Secure/i);
      expect(stateCookie).toMatch(/Path=\/(;|$)/);
      expect(stateCookie).not.toMatch(/Domain=/i);
      expect(decodeURIComponent(stateCookie.split(';')[0]!)).toMatch(/^__Host-keyward_oauth=[A-Za-z0-9_-]+\.[A-Za-z0-9+/]{43}$/);
    });

    it('signs in the account linked to the Discord id, through the real redirect/callback/state flow', async () => {
      const user = await makeUser(server(), 'dc-linked');
      await server().services.users.update(user.id, { discordId: '200000000000000001' }, 'test');
      oauth.nextUser = { id: '200000000000000001', username: 'linked_on_discord' };
      const c = client();
      const { callback, answer } = await discordFlow(c);
      expect(callback.pathname).toBe('/auth/discord/callback');
      expect(answer.status).toBe(303);
      expect(answer.location).toBe('/licenses');
      expect(pageText((await c.get('/licenses')).text)).toContain('dc-linked');
      // The stand-in saw the client secret in the token request, never in the browser's URLs.
      const tokenCall = oauth.requests.filter((r) => r.path === '/token').at(-1)!;
      expect(tokenCall.body).toContain('client_secret=test-client-secret');
      expect(callback.toString()).not.toContain('test-client-secret');
    });

    it('refuses a callback whose state does not match this browser’s, or that comes with no state cookie', async () => {
      const user = await makeUser(server(), 'dc-victim');
      await server().services.users.update(user.id, { discordId: '200000000000000002' }, 'test');
      oauth.nextUser = { id: '200000000000000002', username: 'victim' };
      // An attacker starts a flow in their browser and gets a valid code + state...
      const attacker = client();
      const begin = await attacker.get('/auth/discord');
      const back = new URL((await fetch(begin.location!, { redirect: 'manual' })).headers.get('location')!);
      // ...and makes the victim's browser open the callback: no matching state cookie there.
      const victim = client();
      const res = await victim.get(`${back.pathname}${back.search}`);
      expect(res.status).toBe(400);
      expect(pageText(res.text)).toContain('expired or did not start here');
      expect(victim.cookies.has('__Host-keyward_session')).toBe(false);
      // A tampered state is refused even with the cookie.
      const tampered = new URL(back);
      tampered.searchParams.set('state', 'x'.repeat(32));
      expect((await attacker.get(`${tampered.pathname}${tampered.search}`)).status).toBe(400);
    });

    it('refuses a Discord account linked to no user while sign-up is closed', async () => {
      oauth.nextUser = { id: '200000000000000003', username: 'stranger' };
      const { answer } = await discordFlow(client());
      expect(answer.status).toBe(403);
      expect(pageText(answer.text)).toContain('No account here is linked to this Discord account');
      expect(await server().services.users.findByDiscordId('200000000000000003')).toBeNull();
    });

    it('refuses a disabled account, and reports a failing Discord without signing in', async () => {
      const user = await makeUser(server(), 'dc-disabled');
      await server().services.users.update(user.id, { discordId: '200000000000000004', disabled: true }, 'test');
      oauth.nextUser = { id: '200000000000000004', username: 'disabled' };
      expect((await discordFlow(client())).answer.status).toBe(403);
      oauth.failToken = 500;
      try {
        const { answer } = await discordFlow(client());
        expect(answer.status).toBe(502);
        expect(pageText(answer.text)).toContain('Discord answered HTTP 500');
      } finally {
        oauth.failToken = null;
      }
      const cancelled = client();
      const begin = await cancelled.get('/auth/discord');
      const state = new URL(begin.location!).searchParams.get('state')!;
      expect((await cancelled.get(`/auth/discord/callback?error=access_denied&state=${state}`)).status).toBe(400);
    });

    it('links Discord to the signed-in account from the account page, then signs in with it', async () => {
      const c = await signedIn(server(), 'dc-linker', 'customer');
      expect((await c.get('/account')).text).toContain('href="/auth/discord?link=1"');
      oauth.nextUser = { id: '200000000000000005', username: 'linker' };
      const { answer } = await discordFlow(c, '/auth/discord?link=1');
      expect(answer.location).toBe('/account');
      expect(pageText((await c.get('/account')).text)).toContain('linked (id 200000000000000005)');
      expect((await server().services.users.findByDiscordId('200000000000000005'))?.username).toBe('dc-linker');
      const fresh = client();
      expect((await discordFlow(fresh)).answer.location).toBe('/licenses');
      // The same Discord account cannot be linked to a second user.
      const other = await signedIn(server(), 'dc-second', 'customer');
      const again = await discordFlow(other, '/auth/discord?link=1');
      expect(pageText((await other.follow(again.answer)).text)).toContain('linked to another user');
    });
  },
  oauth.env,
);

eachDialect(
  'dashboard Discord sign-up when SIGNUP=open',
  (server) => {
    it('creates a customer account linked to a new Discord user', async () => {
      oauth.nextUser = { id: '300000000000000001', username: 'new.player!' };
      const c = new WebClient(server().url, server().services.config.PUBLIC_URL);
      const { answer } = await discordFlow(c);
      expect(answer.location).toBe('/licenses');
      const user = await server().services.users.findByDiscordId('300000000000000001');
      expect(user).toMatchObject({ username: 'new.player', role: 'customer' });
      // The same name again gets a suffix.
      oauth.nextUser = { id: '300000000000000002', username: 'new.player' };
      await discordFlow(new WebClient(server().url, server().services.config.PUBLIC_URL));
      expect((await server().services.users.findByDiscordId('300000000000000002'))?.username).toMatch(/^new\.player-[0-9a-f]{4}$/);
    });
  },
  { ...oauth.env, SIGNUP: 'open' },
);
