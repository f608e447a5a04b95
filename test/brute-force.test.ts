import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MISSES_PREFIX } from '../src/check/redis-fail-limiter.js';
import { createSqlite, describeEachDialect } from './helpers/dialects.js';
import { twoInstancesSharingRedis } from './helpers/redis.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * The brake on key guessing (docs/threat-model.md): once an IP has had CHECK_FAIL_LIMIT NOT FOUND
 * answers for distinct keys within 60 s of its first miss, every check from it answers 429 until
 * those 60 s end. Every guess here is a new random key; repeated keys and IPv6 /64s are tested in
 * test/check-path.security.test.ts. test/helpers/dialects.ts turns the brake off for other
 * suites; here it is set explicitly, and X-Real-IP behind TRUST_PROXY=loopback stands for
 * different callers.
 */

const LIMIT = 30;
const BRAKE = { CHECK_FAIL_LIMIT: String(LIMIT), TRUST_PROXY: 'loopback' };

interface Answer {
  status: number;
  retryAfter: string | undefined;
  signed: boolean;
  json: any;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
afterAll(() => agent.destroy());

function check(url: string, ip: string, key: string, path = '/api/check/8'): Promise<Answer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const r = http.request({ host: hostname, port, method: 'POST', path, headers: { authorization: key, 'x-real-ip': ip }, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          retryAfter: res.headers['retry-after'],
          signed: typeof res.headers['x-keyward-signature'] === 'string',
          json: JSON.parse(text),
        }),
      );
    });
    r.on('error', reject);
    r.end();
  });
}

const randomKey = () => randomBytes(33).toString('base64url');
let ipSeq = 0;
/** A new caller address for each use, from a per-run random block (so Redis keys never collide). */
const block = randomBytes(2);
const newIp = () => `198.18.${block[0]}.${(block[1]! + ipSeq++) % 256}`;

const isRateLimited = (a: Answer) => {
  expect(a.status).toBe(429);
  expect(a.json).toEqual({
    status: 'RATE LIMITED',
    pass: false,
    details: 'Too many failed license checks from this IP address, try again later - https://license.example.com',
  });
  expect(a.signed).toBe(true);
  const seconds = Number(a.retryAfter);
  expect(Number.isInteger(seconds)).toBe(true);
  expect(seconds).toBeGreaterThanOrEqual(1);
  expect(seconds).toBeLessThanOrEqual(60);
};

describe('brute force, one instance (in-memory brake)', () => {
  let server: TestServer;
  let key: string;
  let disabledKey: string;
  beforeAll(async () => {
    server = await startTestServer(await createSqlite(), BRAKE);
    ({ key } = await server.issue([8]));
    const disabled = await server.issue([8]);
    await server.services.licenses.update(disabled.id, { disabled: true }, 'test');
    disabledKey = disabled.key;
  });
  afterAll(async () => {
    await server?.close();
    await server?.db.cleanup();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('1,000 random keys from one IP: exactly the first 30 are NOT FOUND, the rest 429 with Retry-After', async () => {
    const attacker = newIp();
    const answers: Answer[] = [];
    for (let i = 0; i < 1000; i++) answers.push(await check(server.url, attacker, randomKey()));
    const firstMisses = answers.slice(0, LIMIT);
    for (const a of firstMisses) {
      expect(a.status).toBe(200);
      expect(a.json.status).toBe('NOT FOUND');
      expect(a.retryAfter).toBeUndefined();
    }
    for (const a of answers.slice(LIMIT)) isRateLimited(a);
    // Retry-After counts down towards the end of the window, never up.
    const waits = answers.slice(LIMIT).map((a) => Number(a.retryAfter));
    expect(waits[waits.length - 1]).toBeLessThanOrEqual(waits[0]!);

    // A legitimate key from another IP still passes, also on the other endpoints.
    const other = newIp();
    expect((await check(server.url, other, key)).json.status).toBe('AUTHORISED');
    expect((await check(server.url, other, key, '/api/check/multiple?proIds=8')).json.status).toBe('AUTHORISED');
    expect((await check(server.url, other, key, '/api/checkitem/8')).json.status).toBe('OK');
    // From the blocked IP even a valid key is refused, on every endpoint, until the window ends.
    isRateLimited(await check(server.url, attacker, key));
    isRateLimited(await check(server.url, attacker, key, '/api/check/multiple?proIds=8'));
    isRateLimited(await check(server.url, attacker, key, '/api/checkitem/8'));

    // Refused checks never ran: only the 30 misses reached Previous Auths.
    await server.flush();
    const logged = await server.services.logs.checks({ ip: attacker, limit: 2000 });
    expect(logged).toHaveLength(LIMIT);
    expect(logged.every((r) => r.status === 'NOT FOUND')).toBe(true);
  });

  it('the limit is exact: 29 misses still let a valid key through, the 30th blocks', async () => {
    const ip = newIp();
    for (let i = 0; i < LIMIT - 1; i++) expect((await check(server.url, ip, randomKey())).json.status).toBe('NOT FOUND');
    expect((await check(server.url, ip, key)).json.status).toBe('AUTHORISED');
    expect((await check(server.url, ip, randomKey())).json.status).toBe('NOT FOUND');
    isRateLimited(await check(server.url, ip, key));
  });

  it('both kinds of NOT FOUND count (unknown key, unknown product, no key); other refusals do not', async () => {
    const ip = newIp();
    for (let i = 0; i < 100; i++) expect((await check(server.url, ip, disabledKey)).json.status).toBe('KEY DISABLED');
    expect((await check(server.url, ip, key)).json.status).toBe('AUTHORISED');
    // No key at all is one distinct key (counted once); the rest are new keys, half of them
    // for a product that does not exist.
    expect((await check(server.url, ip, '')).json.status).toBe('NOT FOUND');
    for (let i = 1; i < LIMIT; i++) {
      const answer = i % 2 === 0 ? await check(server.url, ip, randomKey(), '/api/check/999') : await check(server.url, ip, randomKey(), '/api/checkitem/8');
      expect(answer.json.status).toBe('NOT FOUND');
    }
    isRateLimited(await check(server.url, ip, key));
  });

  it('the window ends 60 s after the first miss; then the IP is allowed and counted afresh', async () => {
    const ip = newIp();
    const before = Date.now();
    await check(server.url, ip, randomKey());
    const afterFirst = Date.now();
    for (let i = 1; i < LIMIT; i++) await check(server.url, ip, randomKey());
    isRateLimited(await check(server.url, ip, key));

    // Move the server's clock (it runs in this process) instead of waiting a minute.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(before + 59_000);
    const late = await check(server.url, ip, key);
    isRateLimited(late);
    expect(Number(late.retryAfter)).toBeLessThanOrEqual(2);
    vi.setSystemTime(afterFirst + 60_000);
    expect((await check(server.url, ip, key)).json.status).toBe('AUTHORISED');
    // A fresh window: 30 more misses are answered, then the brake again.
    for (let i = 0; i < LIMIT; i++) expect((await check(server.url, ip, randomKey())).json.status).toBe('NOT FOUND');
    isRateLimited(await check(server.url, ip, key));
    // Misses spread over more than a window never add up.
    const slow = newIp();
    let now = Date.now();
    for (let i = 0; i < 2 * LIMIT; i++) {
      if (i % (LIMIT - 1) === 0) vi.setSystemTime((now += 61_000));
      expect((await check(server.url, slow, randomKey())).json.status).toBe('NOT FOUND');
    }
  });
});

/**
 * Guesses in parallel: requests already in flight when the IP reaches the limit count their miss
 * before answering, and a miss beyond the limit is answered 429 too, so exactly LIMIT guesses get
 * an answer per window however many run at once.
 */
describeEachDialect('brute force in parallel ($name)', (create) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(await create(), BRAKE);
    await server.issue([8]);
  });
  afterAll(async () => {
    await server?.close();
    await server?.db.cleanup();
  });

  it('1,000 guesses, 16 in flight from one IP: exactly LIMIT NOT FOUND, the rest 429', async () => {
    const ip = newIp();
    const CONCURRENCY = 16;
    let next = 0;
    const statuses: string[] = [];
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < 1000) {
          const i = next++;
          statuses[i] = (await check(server.url, ip, randomKey())).json.status;
        }
      }),
    );
    const misses = statuses.filter((s) => s === 'NOT FOUND').length;
    expect(statuses.filter((s) => s === 'RATE LIMITED')).toHaveLength(1000 - misses);
    expect(misses).toBe(LIMIT);
  });
});

describe('brute force, two instances sharing one Redis', () => {
  const usedIps: string[] = [];
  const ip = () => {
    const value = newIp();
    usedIps.push(value);
    return value;
  };
  const pair = twoInstancesSharingRedis(BRAKE, async (redis) => {
    if (usedIps.length) await pair.redis!.del(...usedIps.map((value) => MISSES_PREFIX + value));
  });

  /** Polls one instance until it answers 429 for the IP (the other instance tells it over pub/sub). */
  async function until429(server: TestServer, from: string): Promise<Answer> {
    const deadline = Date.now() + 1000;
    for (;;) {
      const answer = await check(server.url, from, pair.key);
      if (answer.status === 429 || Date.now() > deadline) return answer;
      expect(answer.json.status).toBe('AUTHORISED');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it('misses spread over both instances add up; then the next request on either is 429', async (ctx) => {
    if (!pair.redis) return ctx.skip();
    const attacker = ip();
    expect(await pair.redis!.exists(MISSES_PREFIX + attacker)).toBe(0);
    for (let i = 0; i < LIMIT; i++) {
      const answer = await check((i % 2 ? pair.b : pair.a).url, attacker, randomKey());
      expect(answer.json.status, `miss ${i + 1}`).toBe('NOT FOUND');
    }
    // Redis holds one short digest per distinct key, never a key.
    const members = await pair.redis!.smembers(MISSES_PREFIX + attacker);
    expect(members).toHaveLength(LIMIT);
    expect(members.every((m) => /^[0-9a-f]{16}$/.test(m))).toBe(true);
    const ttl = await pair.redis!.pttl(MISSES_PREFIX + attacker);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    isRateLimited(await until429(pair.a, attacker));
    isRateLimited(await until429(pair.b, attacker));
    isRateLimited(await check(pair.a.url, attacker, randomKey()));
    isRateLimited(await check(pair.b.url, attacker, randomKey()));
    // Other IPs, on either instance, are unaffected.
    const other = ip();
    expect((await check(pair.a.url, other, pair.key)).json.status).toBe('AUTHORISED');
    expect((await check(pair.b.url, other, pair.key)).json.status).toBe('AUTHORISED');
  });

  it('one instance with a single miss still refuses once the other has seen the rest', async (ctx) => {
    if (!pair.redis) return ctx.skip();
    const attacker = ip();
    expect((await check(pair.a.url, attacker, randomKey())).json.status).toBe('NOT FOUND');
    for (let i = 1; i < LIMIT; i++) expect((await check(pair.b.url, attacker, randomKey())).json.status).toBe('NOT FOUND');
    isRateLimited(await check(pair.b.url, attacker, pair.key));
    isRateLimited(await until429(pair.a, attacker));
  });

  it('1,000 random keys from one IP over both instances: 30 NOT FOUND, then 429', async (ctx) => {
    if (!pair.redis) return ctx.skip();
    const attacker = ip();
    const statuses: string[] = [];
    for (let i = 0; i < 1000; i++) statuses.push((await check((i % 2 ? pair.b : pair.a).url, attacker, randomKey())).json.status);
    const firstRefusal = statuses.indexOf('RATE LIMITED');
    expect(statuses.slice(0, LIMIT).every((s) => s === 'NOT FOUND')).toBe(true);
    // Even before the other instance hears of the block over pub/sub, its own miss count from
    // Redis is over the limit, so the very next guess is refused.
    expect(firstRefusal).toBe(LIMIT);
    expect(statuses.slice(firstRefusal).every((s) => s === 'RATE LIMITED')).toBe(true);
    const other = ip();
    expect((await check(pair.b.url, other, pair.key)).json.status).toBe('AUTHORISED');
  });
});
