import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createSqlite } from './helpers/dialects.js';
import { request, type RawResponse } from './helpers/http.js';
import { twoInstancesSharingRedis } from './helpers/redis.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { eachDialect } from './helpers/suite.js';

/** Hostile traffic on the check path, through the real server (docs/threat-model.md). */

const LIMIT = 30;
const BRAKE = { CHECK_FAIL_LIMIT: String(LIMIT), TRUST_PROXY: 'loopback' };

/** Per-run address blocks, so runs sharing one Redis never count each other's misses. */
const run = randomBytes(2);
const v4Block = `198.19.${run[0]}`;
const v6Block = `2001:db8:${run.readUInt16BE(0).toString(16)}`;
let v4Seq = run[1]!;
let v6Seq = 0;
const newIp = () => `${v4Block}.${v4Seq++ % 256}`;
/** A fresh /64; `host` picks an address inside it. */
const newV6Net = () => {
  const net = `${v6Block}:${(v6Seq++).toString(16)}`;
  return (host: number) => `${net}:0:${(host + 1).toString(16)}::1`;
};

const randomKey = () => randomBytes(33).toString('base64url');

function check(url: string, ip: string, key: string, path = '/api/check/8'): Promise<RawResponse> {
  return request(url, { path, headers: { authorization: key, 'x-real-ip': ip } });
}

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
      const logged = await s.internal.checkPath.authLogs.list({ licenseId: id, limit: 10 });
      expect(logged.map((r) => r.ip)).toEqual(['127.0.0.1', '127.0.0.1']);
      expect((await s.services.licenses.show(id)).lastIp).toBe('127.0.0.1');
    });

    it('valid addresses are still taken: the nearest valid hop, a valid X-Real-IP in any spelling', async () => {
      const s = server();
      const { id, key } = await s.issue([8]);
      await request(s.url, { path: '/api/check/8', headers: { authorization: key, 'x-forwarded-for': 'garbage, 203.0.113.9' } });
      await request(s.url, { path: '/api/check/8', headers: { authorization: key, 'x-real-ip': ' 2001:DB8::0:1 ', 'x-forwarded-for': 'garbage' } });
      await s.flush();
      const logged = await s.internal.checkPath.authLogs.list({ licenseId: id, limit: 10 });
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
    const logged = await s.internal.checkPath.authLogs.list({ licenseId: id, limit: 10 });
    expect(logged.find((r) => r.info === 'exact')!.user_agent).toBe(exact);
    expect(logged.find((r) => r.info === null)!.user_agent).toBe(long.slice(0, 1000));
  });
});

eachDialect('hostile info shapes', (server) => {
  const post = (key: string, body: string) =>
    request(server().url, { path: '/api/check/8', headers: { authorization: key, 'content-type': 'application/json' }, body });
  const storedInfo = async (id: number) => {
    await server().flush();
    return (await server().internal.checkPath.authLogs.list({ licenseId: id, limit: 1 }))[0]!.info;
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

/**
 * The brake's rule, run against `servers()` (one instance, or two sharing Redis, taken in turn):
 * `LIMIT` NOT FOUND answers for distinct keys within 60 s of the first miss block the IP until
 * those 60 s end; a repeated key counts once.
 */
function brakeRules(servers: () => TestServer[], validKey: () => string): void {
  const on = (i: number) => servers()[i % servers().length]!.url;

  it('a repeated wrong key counts once: a valid key from the same IP keeps getting AUTHORISED', async () => {
    const ip = newIp();
    const wrong = randomKey();
    for (let i = 0; i < 200; i++) {
      expect((await check(on(i), ip, wrong)).json.status, `repeat ${i + 1}`).toBe('NOT FOUND');
      if (i % 10 === 9) expect((await check(on(i + 1), ip, validKey())).json.status, `valid key after ${i + 1} repeats`).toBe('AUTHORISED');
    }
    // No key at all is one more "key", counted once too.
    for (let i = 0; i < 50; i++) expect((await check(on(i), ip, '')).json.status).toBe('NOT FOUND');
    expect((await check(on(0), ip, validKey())).json.status).toBe('AUTHORISED');
    expect((await check(on(1), ip, validKey(), '/api/checkitem/8')).json.status).toBe('OK');
  });

  it('a guessing run: the 31st distinct key is refused, then every check from that IP until the window ends; other IPs are unaffected', async () => {
    const ip = newIp();
    const guesses = Array.from({ length: LIMIT }, randomKey);
    const beforeFirst = Date.now();
    expect((await check(on(0), ip, guesses[0]!)).json.status).toBe('NOT FOUND');
    const afterFirst = Date.now();
    // Each guess tried twice (a guesser retrying) counts once: 30 distinct keys are all answered.
    let n = 1;
    for (const [i, guess] of guesses.entries()) {
      const tries = i === 0 ? 1 : i === LIMIT - 1 ? 1 : 2;
      for (let t = 0; t < tries; t++) expect((await check(on(n++), ip, guess)).json.status, `guess ${i + 1}`).toBe('NOT FOUND');
    }
    // The 30th distinct miss blocked the IP: the 31st distinct key is refused, and so is any retry.
    expectRefused(await check(on(n++), ip, randomKey()));
    expectRefused(await check(on(n++), ip, guesses[LIMIT - 1]!));
    // Now every check from that IP is refused, valid key or not, on every endpoint and instance.
    for (let i = 0; i < servers().length; i++) {
      expectRefused(await check(on(i), ip, validKey()));
      expectRefused(await check(on(i), ip, validKey(), '/api/check/multiple?proIds=8'));
      expectRefused(await check(on(i), ip, validKey(), '/api/checkitem/8'));
      expectRefused(await check(on(i), ip, guesses[0]!));
    }
    const other = newIp();
    expect((await check(on(0), other, validKey())).json.status).toBe('AUTHORISED');
    expect((await check(on(1), other, randomKey())).json.status).toBe('NOT FOUND');

    // Move the servers' clock (they run in this process) instead of waiting a minute.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(beforeFirst + 59_000);
    for (let i = 0; i < servers().length; i++) expectRefused(await check(on(i), ip, validKey()));
    vi.setSystemTime(afterFirst + 60_000);
    for (let i = 0; i < servers().length; i++) expect((await check(on(i), ip, validKey())).json.status).toBe('AUTHORISED');
  });

  it('addresses in one IPv6 /64 share one count; the next /64 does not', async () => {
    const host = newV6Net();
    for (let i = 0; i < LIMIT; i++) expect((await check(on(i), host(i), randomKey())).json.status, `miss ${i + 1}`).toBe('NOT FOUND');
    expectRefused(await check(on(LIMIT), host(LIMIT), randomKey()));
    expectRefused(await check(on(0), host(1000), validKey()));
    const neighbour = newV6Net();
    expect((await check(on(1), neighbour(0), validKey())).json.status).toBe('AUTHORISED');
  });
}

describe('the key-guessing brake, one instance', () => {
  let server: TestServer;
  let key: string;
  beforeAll(async () => {
    server = await startTestServer(await createSqlite(), BRAKE);
    ({ key } = await server.issue([8]));
  });
  afterAll(async () => {
    await server?.close();
    await server?.db.cleanup();
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  brakeRules(
    () => [server],
    () => key,
  );
});

describe('the key-guessing brake, two instances sharing one Redis', () => {
  const pair = twoInstancesSharingRedis(BRAKE, async (redis) => {
    // Only the keys of this run's address blocks.
    for (const pattern of [`keyward:check-*${v4Block}.*`, `keyward:check-*${v6Block}:*`]) {
      const found: string[] = [];
      const stream = redis.scanStream({ match: pattern, count: 1000 });
      for await (const keys of stream) found.push(...(keys as string[]));
      if (found.length) await redis.del(...found);
    }
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  beforeEach(({ skip }) => {
    if (!pair.redis) skip();
  });
  brakeRules(
    () => [pair.a, pair.b],
    () => pair.key,
  );
});
