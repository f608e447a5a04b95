import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSqlite } from './helpers/dialects.js';
import { request, type RawResponse } from './helpers/http.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { eachDialect } from './helpers/suite.js';

/** Hostile traffic on the check path, through the real server (docs/threat-model.md). */

const LIMIT = 30;
const BRAKE = { CHECK_FAIL_LIMIT: String(LIMIT), TRUST_PROXY: 'loopback' };

const randomKey = () => randomBytes(33).toString('base64url');

function expectRefused(res: RawResponse): void {
  expect(res.status).toBe(429);
  expect(res.json.status).toBe('RATE LIMITED');
  expect(typeof res.headers['x-keyward-signature']).toBe('string');
  const seconds = Number(res.headers['retry-after']);
  expect(seconds).toBeGreaterThanOrEqual(1);
  expect(seconds).toBeLessThanOrEqual(60);
}

describe('a forged proxy header cannot escape the brake', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(await createSqlite(), BRAKE);
    await server.issue([8]);
  });
  afterAll(async () => {
    await server?.close();
    await server?.db.cleanup();
  });

  it('guesses with a different non-IP X-Forwarded-For each are all counted on the connection address', async () => {
    const guess = (i: number) =>
      request(server.url, { path: '/api/check/8', headers: { authorization: randomKey(), 'x-forwarded-for': `forged-${i}` } });
    for (let i = 0; i < LIMIT; i++) expect((await guess(i)).json.status, `guess ${i + 1}`).toBe('NOT FOUND');
    expectRefused(await guess(LIMIT));
    await server.flush();
    const logged = await server.services.logs.checks({ limit: 100 });
    expect(new Set(logged.map((r) => r.ip))).toEqual(new Set(['127.0.0.1']));
  });
});

eachDialect(
  'proxy headers that are not IP addresses',
  (server) => {
    it.each([
      ['X-Forwarded-For that is not an IP', { 'x-forwarded-for': 'garbage' }],
      ['X-Real-IP and X-Forwarded-For both not IPs', { 'x-real-ip': 'junk', 'x-forwarded-for': 'not an ip at all' }],
      ['a nearest X-Forwarded-For hop that is not an IP', { 'x-forwarded-for': '203.0.113.7, <script>alert(1)</script>' }],
      ['an address with a port', { 'x-forwarded-for': '203.0.113.7:4242' }],
      ['a long header', { 'x-forwarded-for': 'x'.repeat(8000) }],
    ])('%s: the connection address is the caller, stored, and bound to a locked license', async (_, headers) => {
      const s = server();
      const { id, key } = await s.issue([8], { ipLocked: true });
      const first = await request(s.url, { path: '/api/check/8', headers: { authorization: key, ...headers } });
      expect(first.json.status).toBe('AUTHORISED');
      // The license is bound to the real caller, who keeps passing without any header.
      await expect.poll(async () => (await s.services.licenses.show(id)).ips, { timeout: 2000 }).toEqual(['127.0.0.1']);
      expect((await request(s.url, { path: '/api/check/8', headers: { authorization: key } })).json.status).toBe('AUTHORISED');
      await s.flush();
      const logged = await s.services.repos.authLogs.list({ licenseId: id, limit: 10 });
      expect(logged.map((r) => r.ip)).toEqual(['127.0.0.1', '127.0.0.1']);
      expect((await s.services.licenses.show(id)).lastIp).toBe('127.0.0.1');
    });

    it('valid addresses are still taken: the nearest valid hop, a valid X-Real-IP in any spelling', async () => {
      const s = server();
      const { id, key } = await s.issue([8]);
      await request(s.url, { path: '/api/check/8', headers: { authorization: key, 'x-forwarded-for': 'garbage, 203.0.113.9' } });
      await request(s.url, { path: '/api/check/8', headers: { authorization: key, 'x-real-ip': ' 2001:DB8::0:1 ', 'x-forwarded-for': 'garbage' } });
      await s.flush();
      const logged = await s.services.repos.authLogs.list({ licenseId: id, limit: 10 });
      expect(logged.map((r) => r.ip).sort()).toEqual(['2001:db8::1', '203.0.113.9']);
    });
  },
  { TRUST_PROXY: 'loopback' },
);

eachDialect('oversized User-Agent', (server) => {
  it('a 15,000-character User-Agent is stored cut to its first 1,000 characters; the check passes', async () => {
    const s = server();
    const { id, key } = await s.issue([8]);
    const long = `FXServer-${'a'.repeat(15_000 - 9)}`;
    const exact = 'b'.repeat(1000);
    expect((await request(s.url, { path: '/api/check/8', headers: { authorization: key, 'user-agent': long } })).json.status).toBe('AUTHORISED');
    expect((await request(s.url, { path: '/api/check/8?info=exact', headers: { authorization: key, 'user-agent': exact } })).json.status).toBe('AUTHORISED');
    await s.flush();
    const logged = await s.services.repos.authLogs.list({ licenseId: id, limit: 10 });
    expect(logged.find((r) => r.info === 'exact')!.user_agent).toBe(exact);
    expect(logged.find((r) => r.info === null)!.user_agent).toBe(long.slice(0, 1000));
  });
});

