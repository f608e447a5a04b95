import { expect, it } from 'vitest';
import { makeUser, TEST_PASSWORD } from './helpers/dashboard.js';
import { eachDialect, PUBLIC_URL } from './helpers/suite.js';
import { WebClient } from './helpers/web-client.js';

/** The sign-in limits of docs/dashboard.md: per account name, per IP, per IP's sign-ups. */
const PER_ACCOUNT = 5;
const PER_IP = 20;
const SIGNUPS_PER_IP = 5;

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
      const created = (await server().services.storage.db.selectFrom('users').select('username').where('username', 'like', 'burst-%').execute()).length;
      expect(created).toBe(answers.filter((a) => a.status === 303).length);
      expect(created).toBe(SIGNUPS_PER_IP);
    });
  },
  { TRUST_PROXY: 'loopback', SIGNUP: 'open' },
);
