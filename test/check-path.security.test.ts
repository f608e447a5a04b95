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

eachDialect('hostile info shapes', (server) => {
  const post = (key: string, body: string) =>
    request(server().url, { path: '/api/check/8', headers: { authorization: key, 'content-type': 'application/json' }, body });
  const storedInfo = async (id: number) => {
    await server().flush();
    return (await server().services.repos.authLogs.list({ licenseId: id, limit: 1 }))[0]!.info;
  };

  it('info nested 20,000 levels deep: the key is AUTHORISED and the first 1,000 characters of its JSON text are stored', async () => {
    const { id, key } = await server().issue([8]);
    const res = await post(key, `{"info":${'['.repeat(20_000)}${']'.repeat(20_000)}}`);
    expect(res.status).toBe(200);
    expect(res.json.status).toBe('AUTHORISED');
    expect(await storedInfo(id)).toBe('['.repeat(1000));
  });

  const deepObject = (levels: number) => `${'{"a":['.repeat(levels)}1${']}'.repeat(levels)}`;
  const hugeArray = `[${Array.from({ length: 15_000 }, (_, i) => i % 10).join(',')}]`;
  it.each([
    ['deep objects and arrays under keys that name Object methods', `{"toString":0,"valueOf":0,"a":${deepObject(4000)}}`],
    ['a huge array', hugeArray],
    ['__proto__, constructor and toJSON keys', '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}},"toJSON":"x","toString":"y"}'],
    ['a deep array holding strings with escapes', `[${'["\\u0000\\ud800é\\"",'.repeat(2500)}0${']'.repeat(2500)}]`],
  ])('%s: the key is AUTHORISED and the first 1,000 characters of the JSON text are stored', async (_, info) => {
    const { id, key } = await server().issue([8]);
    const res = await post(key, `{"info":${info}}`);
    expect(res.status).toBe(200);
    expect(res.json.status).toBe('AUTHORISED');
    // What JSON.stringify would give if it could go that deep, cut where every info is cut.
    const expected = jsonTextOf(info).slice(0, 1000);
    expect(await storedInfo(id)).toBe(expected);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

/** The JSON text of a JSON document as JSON.stringify writes it (minified), without recursion limits. */
function jsonTextOf(json: string): string {
  // Re-serialising token by token: the test documents are minified already except for escapes,
  // which JSON.stringify writes in its own way; parse each string token and write it back.
  return json.replace(/"(?:[^"\\]|\\.)*"/g, (token) => JSON.stringify(JSON.parse(token)));
}
