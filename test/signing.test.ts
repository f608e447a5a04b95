import { createPublicKey, generateKeyPairSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerMessage } from './helpers/answer-signature.js';
import { runCli } from './helpers/cli.js';
import { describeEachDialect } from './helpers/dialects.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * Signed answers (docs/signed-answers.md) checked from the outside: every status of every
 * endpoint, GET and POST, with and without a nonce, verified against GET /api/public-key the way
 * a seller's product would; and every change an attacker could make breaks the signature.
 */

interface Signed {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json: any;
}

interface Send {
  method: 'GET' | 'POST';
  /** The request target exactly as sent (path and query). */
  target: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

function send(url: string, req: Send): Promise<Signed> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const r = http.request({ host: hostname, port, method: req.method, path: req.target, headers: req.headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        let json: unknown;
        try {
          json = JSON.parse(body.toString('utf8'));
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
      });
    });
    r.on('error', reject);
    if (req.body !== undefined) r.write(req.body);
    r.end();
  });
}


interface Parts {
  method: string;
  target: string;
  date: string;
  nonce: string;
  body: Buffer;
  signature: string;
}

const partsOf = (res: Signed, method: string, target: string, nonce: string): Parts => ({
  method,
  target,
  nonce,
  body: res.body,
  date: String(res.headers['x-keyward-date']),
  signature: String(res.headers['x-keyward-signature']),
});

const verifies = (p: Parts, keys: KeyObject[]): boolean =>
  keys.some((k) => verify(null, answerMessage(p.method, p.target, p.date, p.nonce, p.body), k, Buffer.from(p.signature, 'base64')));

const rawKey = (raw: string): KeyObject =>
  createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw, 'base64').toString('base64url') }, format: 'jwk' });

const ISO_SECOND = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

type Endpoint = 'single' | 'multiple' | 'v1';
type NonceWhere = 'none' | 'query' | 'json body' | 'form body';

describeEachDialect('signed answers ($name)', (create) => {
  let server: TestServer;
  const keys: Record<string, string> = {};
  let publicKey: { keyId: string; pem: string; raw: string; keys: { id: string; pem: string; raw: string }[] };
  let trusted: KeyObject[];
  // Each request comes from its own address (X-Real-IP behind TRUST_PROXY=loopback), so the
  // misses this suite sends never add up to the brake, except from the one address meant to.
  let ipCounter = 1;
  const freshIp = () => `10.${(ipCounter >> 16) & 255}.${(ipCounter >> 8) & 255}.${ipCounter++ & 255}`;
  const BLOCKED_IP = '192.0.2.99';
  const LIMIT = 3;

  beforeAll(async () => {
    server = await startTestServer(await create(), { CHECK_FAIL_LIMIT: String(LIMIT), TRUST_PROXY: 'loopback' });
    const s = server;
    const issue = async (extra: Record<string, unknown> = {}) => (await s.issue([8], extra)).key;
    keys.ok = await issue();
    keys.locked = await issue({ ipLocked: true, ips: '203.0.113.7' });
    keys.expired = await issue({ expiresAt: '2020-01-01T00:00:00Z' });
    const disabled = await s.issue([8]);
    await s.services.licenses.update(disabled.id, { disabled: true }, 'test');
    keys.disabled = disabled.key;
    const inactive = await s.issue([8]);
    await s.services.licenses.update(inactive.id, { active: false }, 'test');
    keys.inactive = inactive.key;
    // Block BLOCKED_IP: LIMIT misses, then every check from it answers 429.
    for (let i = 0; i < LIMIT; i++) {
      const res = await send(s.url, { method: 'GET', target: '/api/check/8', headers: { authorization: `guess-${i}`, 'x-real-ip': BLOCKED_IP } });
      expect(res.json.status).toBe('NOT FOUND');
    }
    publicKey = (await send(s.url, { method: 'GET', target: '/api/public-key' })).json;
    trusted = [createPublicKey(publicKey.pem)];
  });
  afterAll(async () => {
    await server?.close();
    await server?.db.cleanup();
  });

  it('GET /api/public-key gives the current key id, its PEM and raw base64, and the list', async () => {
    expect(publicKey.keyId).toMatch(/^[\w-]+$/);
    expect(publicKey.pem).toContain('-----BEGIN PUBLIC KEY-----');
    expect(Buffer.from(publicKey.raw, 'base64')).toHaveLength(32);
    // PEM and raw are the same key.
    expect(rawKey(publicKey.raw).export({ format: 'jwk' })).toEqual(createPublicKey(publicKey.pem).export({ format: 'jwk' }));
    expect(publicKey.keys[0]).toMatchObject({ id: publicKey.keyId, pem: publicKey.pem, raw: publicKey.raw, current: true });
    // `keyward keys show --json` says the same.
    const shown = await runCli(server.db.env, ['keys', 'show', '--json']);
    expect(shown.code).toBe(0);
    expect(shown.json).toEqual(publicKey);
  });

  /** The request for one case; `nonce` is what the signed message must carry. */
  function build(status: string, endpoint: Endpoint, method: 'GET' | 'POST', where: NonceWhere): { req: Send; nonce: string } {
    const nonceValue = `n-${randomBytes(9).toString('base64url')}`;
    const product = status === 'NOT FOUND (product)' ? 999 : 8;
    const keyFor: Record<string, string> = {
      AUTHORISED: keys.ok!,
      'NOT FOUND (key)': `unknown-${randomBytes(8).toString('hex')}`,
      'NOT FOUND (product)': keys.ok!,
      'KEY DISABLED': keys.disabled!,
      'NOT ACTIVE': keys.inactive!,
      EXPIRED: keys.expired!,
      'NOT AUTHORISED': keys.locked!,
      '413': keys.ok!,
      '429': keys.ok!,
    };
    const query = new URLSearchParams();
    if (endpoint === 'multiple') query.set('proIds', String(product));
    if (where === 'query') query.set('nonce', nonceValue);
    const path = endpoint === 'multiple' ? '/api/check/multiple' : endpoint === 'v1' ? `/api/checkitem/${product}` : `/api/check/${product}`;
    const target = query.size ? `${path}?${query}` : path;
    const headers: Record<string, string> = {
      authorization: keyFor[status]!,
      'x-real-ip': status === '429' ? BLOCKED_IP : status === 'NOT AUTHORISED' ? '203.0.113.8' : freshIp(),
    };
    let body: string | undefined;
    if (where === 'json body') {
      headers['content-type'] = 'application/json';
      body = JSON.stringify({ nonce: nonceValue, info: 'signed', ...(endpoint === 'multiple' ? { proIds: [product] } : {}) });
    } else if (where === 'form body') {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams({ nonce: nonceValue, info: 'signed' }).toString();
    }
    if (status === '413') {
      // Over BODY_LIMIT (64 KiB): the body is refused unread, so only a query nonce can be echoed.
      headers['content-type'] ??= 'application/json';
      body = JSON.stringify({ nonce: where === 'query' ? undefined : nonceValue, pad: 'x'.repeat(70_000) });
    }
    const signedNonce = where === 'none' || (status === '413' && where !== 'query') ? '' : nonceValue;
    return { req: { method, target, headers, body }, nonce: signedNonce };
  }

  const expected: Record<string, { http: number; status: Record<Endpoint, string> }> = {
    AUTHORISED: { http: 200, status: { single: 'AUTHORISED', multiple: 'AUTHORISED', v1: 'OK' } },
    'NOT FOUND (key)': { http: 200, status: { single: 'NOT FOUND', multiple: 'NOT FOUND', v1: 'NOT FOUND' } },
    'NOT FOUND (product)': { http: 200, status: { single: 'NOT FOUND', multiple: 'NOT FOUND', v1: 'NOT FOUND' } },
    'KEY DISABLED': { http: 200, status: { single: 'KEY DISABLED', multiple: 'KEY DISABLED', v1: 'KEY DISABLED' } },
    'NOT ACTIVE': { http: 200, status: { single: 'NOT ACTIVE', multiple: 'NOT ACTIVE', v1: 'NOT ACTIVE' } },
    EXPIRED: { http: 200, status: { single: 'EXPIRED', multiple: 'EXPIRED', v1: 'EXPIRED' } },
    'NOT AUTHORISED': { http: 200, status: { single: 'NOT AUTHORISED', multiple: 'NOT AUTHORISED', v1: 'NOT AUTHORISED' } },
    '413': { http: 413, status: { single: 'PAYLOAD TOO LARGE', multiple: 'PAYLOAD TOO LARGE', v1: 'PAYLOAD TOO LARGE' } },
    '429': { http: 429, status: { single: 'RATE LIMITED', multiple: 'RATE LIMITED', v1: 'RATE LIMITED' } },
  };

  const cases: [string, Endpoint, 'GET' | 'POST', NonceWhere][] = [];
  for (const status of Object.keys(expected)) {
    for (const endpoint of ['single', 'multiple', 'v1'] as const) {
      const shapes: ['GET' | 'POST', NonceWhere][] =
        status === '413'
          ? [['POST', 'none'], ['POST', 'query'], ['POST', 'json body']]
          : [['GET', 'none'], ['GET', 'query'], ['POST', 'none'], ['POST', 'query'], ['POST', 'json body'], ['POST', 'form body']];
      for (const [method, where] of shapes) cases.push([status, endpoint, method, where]);
    }
  }

  it.each(cases)('%s, %s endpoint, %s, nonce: %s → signed and verifies', async (status, endpoint, method, where) => {
    const { req, nonce } = build(status, endpoint, method, where);
    const before = Date.now();
    const res = await send(server.url, req);
    const want = expected[status]!;
    expect(res.status).toBe(want.http);
    expect(res.json.status).toBe(want.status[endpoint]);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    if (status === '429') expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(res.headers['x-keyward-key-id']).toBe(publicKey.keyId);
    const date = String(res.headers['x-keyward-date']);
    expect(date).toMatch(ISO_SECOND);
    expect(Date.parse(date)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(date)).toBeLessThanOrEqual(Date.now());
    const parts = partsOf(res, method, req.target, nonce);
    // With the PEM, with the raw key, and with the whole published list.
    expect(verifies(parts, trusted)).toBe(true);
    expect(verifies(parts, [rawKey(publicKey.raw)])).toBe(true);
    expect(verifies(parts, publicKey.keys.map((k) => createPublicKey(k.pem)))).toBe(true);
    // The nonce is inside the signature only: the body is what docs/check-api.md says.
    if (nonce) expect(res.body.toString('utf8')).not.toContain(nonce);
  });

  it('413 while a chunked body streams in is signed too (query nonce echoed)', async () => {
    const nonce = 'chunked-413';
    const target = `/api/check/8?nonce=${nonce}`;
    const res = await new Promise<Signed>((resolve, reject) => {
      const { hostname, port } = new URL(server.url);
      const r = http.request(
        { host: hostname, port, method: 'POST', path: target, headers: { authorization: keys.ok!, 'transfer-encoding': 'chunked' }, agent: false },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (c: Buffer) => chunks.push(c));
          response.on('end', () => {
            const body = Buffer.concat(chunks);
            resolve({ status: response.statusCode!, headers: response.headers, body, json: JSON.parse(body.toString()) });
          });
        },
      );
      r.on('error', () => {}); // the server may close before the last chunk is written
      for (let i = 0; i < 20; i++) r.write('x'.repeat(8192));
      r.end();
      setTimeout(() => reject(new Error('no answer to a chunked oversized body')), 10_000).unref();
    });
    expect(res.status).toBe(413);
    expect(verifies(partsOf(res, 'POST', target, nonce), trusted)).toBe(true);
  });

  describe('any change breaks the signature', () => {
    let parts: Parts;
    beforeAll(async () => {
      const target = '/api/check/multiple?proIds=16,8&info=tamper&nonce=abc-123';
      const res = await send(server.url, { method: 'POST', target, headers: { authorization: keys.ok!, 'x-real-ip': freshIp() } });
      expect(res.json).toMatchObject({ status: 'AUTHORISED', proId: 8 });
      parts = partsOf(res, 'POST', target, 'abc-123');
      expect(verifies(parts, trusted)).toBe(true);
    });

    it.each(Array.from({ length: 12 }, (_, i) => i))('one body byte changed (sample %i)', (i) => {
      const body = Buffer.from(parts.body);
      const at = Math.floor((i * body.length) / 12);
      body[at] = body[at]! ^ (1 << i % 7);
      expect(verifies({ ...parts, body }, trusted)).toBe(false);
    });

    it('pass:true spliced in for pass:false, and a byte appended or removed', () => {
      const text = parts.body.toString('utf8');
      expect(verifies({ ...parts, body: Buffer.from(text.replace('"pass":true', '"pass":false')) }, trusted)).toBe(false);
      expect(verifies({ ...parts, body: Buffer.concat([parts.body, Buffer.from('\n')]) }, trusted)).toBe(false);
      expect(verifies({ ...parts, body: parts.body.subarray(0, -1) }, trusted)).toBe(false);
    });

    it.each([
      ['the nonce', { nonce: 'abc-124' }],
      ['no nonce at all', { nonce: '' }],
      ['the path', { target: '/api/check/multiple?proIds=16,9&info=tamper&nonce=abc-123'.replace('multiple', 'multiplf') }],
      ['the product in the query', { target: '/api/check/multiple?proIds=16,9&info=tamper&nonce=abc-123' }],
      ['the query order', { target: '/api/check/multiple?info=tamper&proIds=16,8&nonce=abc-123' }],
      ['the endpoint', { target: '/api/check/8?info=tamper&nonce=abc-123' }],
      ['the method', { method: 'GET' }],
      ['the method in lower case', { method: 'post' }],
    ])('%s changed', (_, change) => {
      expect(verifies({ ...parts, ...change }, trusted)).toBe(false);
    });

    it('the date changed by one second either way, or re-spelled', () => {
      const when = Date.parse(parts.date);
      const iso = (ms: number) => `${new Date(ms).toISOString().slice(0, 19)}Z`;
      expect(verifies({ ...parts, date: iso(when + 1000) }, trusted)).toBe(false);
      expect(verifies({ ...parts, date: iso(when - 1000) }, trusted)).toBe(false);
      expect(verifies({ ...parts, date: new Date(when).toISOString() }, trusted)).toBe(false);
    });

    it('another key does not verify it', () => {
      // A freshly made key pair stands for an attacker's own key.
      expect(verifies(parts, [generateKeyPairSync('ed25519').publicKey])).toBe(false);
    });
  });

  /** Sends `make()` twice until both answers carry the same X-Keyward-Date (bounded). */
  async function sameSecondPair(make: () => Send): Promise<[Signed, Signed, Send, Send]> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const a = make();
      const b = make();
      const [ra, rb] = await Promise.all([send(server.url, a), send(server.url, b)]);
      if (ra.headers['x-keyward-date'] === rb.headers['x-keyward-date']) return [ra, rb, a, b];
    }
    throw new Error('no two answers in the same second after 10 tries');
  }

  it('answers without a nonce in the same second share one signature; another target does not', async () => {
    const ip = freshIp();
    const [a, b] = await sameSecondPair(() => ({ method: 'GET', target: '/api/check/8?info=same', headers: { authorization: keys.ok!, 'x-real-ip': ip } }));
    expect(a.headers['x-keyward-signature']).toBe(b.headers['x-keyward-signature']);
    expect(verifies(partsOf(b, 'GET', '/api/check/8?info=same', ''), trusted)).toBe(true);
    const [c, d] = await sameSecondPair(() => ({ method: 'GET', target: '/api/check/8?info=same', headers: { authorization: keys.ok!, 'x-real-ip': ip } }));
    const e = await send(server.url, { method: 'GET', target: '/api/check/8?info=other', headers: { authorization: keys.ok!, 'x-real-ip': ip } });
    if (e.headers['x-keyward-date'] === c.headers['x-keyward-date']) {
      expect(e.headers['x-keyward-signature']).not.toBe(c.headers['x-keyward-signature']);
    }
    expect(c.headers['x-keyward-signature']).toBe(d.headers['x-keyward-signature']);
    // Same target but a POST: a different message, a different signature.
    const [p, q] = await sameSecondPair(() => ({ method: 'POST', target: '/api/check/8?info=same', headers: { authorization: keys.ok!, 'x-real-ip': ip } }));
    expect(p.headers['x-keyward-signature']).toBe(q.headers['x-keyward-signature']);
    if (p.headers['x-keyward-date'] === a.headers['x-keyward-date']) {
      expect(p.headers['x-keyward-signature']).not.toBe(a.headers['x-keyward-signature']);
    }
  });

  it('answers with a nonce never share a signature, and each verifies only with its own nonce', async () => {
    const nonces: string[] = [];
    const [a, b, ra, rb] = await sameSecondPair(() => {
      const nonce = randomBytes(12).toString('hex');
      nonces.push(nonce);
      return { method: 'GET', target: `/api/check/8?nonce=${nonce}`, headers: { authorization: keys.ok!, 'x-real-ip': freshIp() } };
    });
    expect(a.body.equals(b.body)).toBe(true);
    expect(a.headers['x-keyward-signature']).not.toBe(b.headers['x-keyward-signature']);
    const na = new URLSearchParams(ra.target.split('?')[1]).get('nonce')!;
    const nb = new URLSearchParams(rb.target.split('?')[1]).get('nonce')!;
    expect(verifies(partsOf(a, 'GET', ra.target, na), trusted)).toBe(true);
    expect(verifies(partsOf(b, 'GET', rb.target, nb), trusted)).toBe(true);
    // A's answer handed to B's request: B's nonce and target are not what A's signature covers.
    expect(verifies(partsOf(a, 'GET', rb.target, nb), trusted)).toBe(false);
  });

  it('nonce rules: percent-decoded from the query, body wins over query, ≤ 128 chars, no control characters', async () => {
    const check = async (target: string, expectNonce: string, init: Partial<Send> = {}) => {
      const res = await send(server.url, { method: 'POST', target, ...init, headers: { authorization: keys.ok!, 'x-real-ip': freshIp(), ...init.headers } });
      expect(res.json.status).toBe('AUTHORISED');
      expect(verifies(partsOf(res, init.method ?? 'POST', target, expectNonce), trusted)).toBe(true);
    };
    await check('/api/check/8?nonce=a+b%20c%2Fd%C3%A9', 'a b c/dé');
    await check('/api/check/8?nonce=from-query', 'from-body', { headers: { 'content-type': 'application/json' }, body: '{"nonce":"from-body"}' });
    await check(`/api/check/8?nonce=${'x'.repeat(128)}`, 'x'.repeat(128));
    await check(`/api/check/8?nonce=${'x'.repeat(129)}`, '');
    await check('/api/check/8?nonce=bad%0Aline', '');
    await check('/api/check/8', '', { headers: { 'content-type': 'application/json' }, body: '{"nonce":12345}' });
    // A broken body counts as empty: the query nonce stands.
    await check('/api/check/8?nonce=q', 'q', { headers: { 'content-type': 'application/json' }, body: '{"nonce":' });
  });

  it('`keyward keys rotate` (CLI process) reaches the running server within 1 s; the old key stays listed', async () => {
    const oldId = publicKey.keyId;
    const target = '/api/checkitem/8?nonce=before-rotation';
    const old = await send(server.url, { method: 'GET', target, headers: { authorization: keys.ok!, 'x-real-ip': freshIp() } });
    expect(old.headers['x-keyward-key-id']).toBe(oldId);

    const rotated = await runCli(server.db.env, ['keys', 'rotate', '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    const start = Date.now();
    const newId: string = rotated.json.keyId;
    expect(newId).not.toBe(oldId);
    expect(rotated.json.keys.map((k: { id: string }) => k.id)).toEqual([newId, oldId]);

    let res: Signed;
    for (;;) {
      res = await send(server.url, { method: 'GET', target: '/api/check/8?nonce=after', headers: { authorization: keys.ok!, 'x-real-ip': freshIp() } });
      if (res.headers['x-keyward-key-id'] === newId) break;
      expect(res.headers['x-keyward-key-id']).toBe(oldId);
      expect(Date.now() - start, 'rotation not picked up within 1 s').toBeLessThan(1000);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(Date.now() - start).toBeLessThan(1000);

    const listed = (await send(server.url, { method: 'GET', target: '/api/public-key' })).json;
    expect(listed.keyId).toBe(newId);
    expect(listed.keys.map((k: { id: string }) => k.id)).toEqual([newId, oldId]);
    expect(listed.keys[1]).toMatchObject({ id: oldId, pem: publicKey.pem, raw: publicKey.raw, current: false });
    expect(listed.keys[1].retiredAt).toMatch(/Z$/);
    const newKey = createPublicKey(listed.pem);
    const all = listed.keys.map((k: { pem: string }) => createPublicKey(k.pem));
    // New answers verify with the new key only; the old answer still verifies with the old key.
    expect(verifies(partsOf(res, 'GET', '/api/check/8?nonce=after', 'after'), [newKey])).toBe(true);
    expect(verifies(partsOf(res, 'GET', '/api/check/8?nonce=after', 'after'), trusted)).toBe(false);
    expect(verifies(partsOf(old, 'GET', target, 'before-rotation'), all)).toBe(true);
    // Cached (per-second) signatures of the old key are not served after the switch.
    const again = await send(server.url, { method: 'GET', target: '/api/check/8?info=same', headers: { authorization: keys.ok!, 'x-real-ip': freshIp() } });
    expect(again.headers['x-keyward-key-id']).toBe(newId);
    expect(verifies(partsOf(again, 'GET', '/api/check/8?info=same', ''), [newKey])).toBe(true);
    // And the CLI shows the same list.
    expect((await runCli(server.db.env, ['keys', 'show', '--json'])).json).toEqual(listed);
  });
});
