import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { check, KeywardVerificationError, type CheckOptions } from '../src/client/index.js';
import { fakeSigner } from './helpers/answer-signature.js';
import { createSqlite } from './helpers/dialects.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { forward as forwardTo, reply, standIns } from './helpers/stand-in-servers.js';
import { PUBLIC_URL } from './helpers/suite.js';
import type { ProxiedAnswer } from './helpers/tampering-proxy.js';

/**
 * keyward/client against the real server, and against the attacks it exists for: a fake server,
 * a tampering proxy, a replayed answer, a stale or future date, another key.
 */

let server: TestServer;
let key: string;
let bundleKey: string;
let disabledKey: string;
let pem: string;
let raw: string;

beforeAll(async () => {
  server = await startTestServer(await createSqlite());
  ({ key } = await server.issue([8]));
  ({ key: bundleKey } = await server.issue([16, 32]));
  const disabled = await server.issue([8]);
  await server.services.licenses.update(disabled.id, { disabled: true }, 'test');
  disabledKey = disabled.key;
  ({ pem, raw } = await (await fetch(`${server.url}/api/public-key`)).json());
});
afterAll(async () => {
  await server?.close();
  await server?.db.cleanup();
});
const stands = standIns();
const listen = stands.listen;
afterEach(() => stands.closeAll());
/** Sends the request on to the real server (optionally rewritten) and returns its answer. */
const forward = (req: http.IncomingMessage, rewrite?: { path?: string; authorization?: string }) => forwardTo(server.url, req, rewrite);

const base = (over: Partial<CheckOptions> = {}): CheckOptions => ({ url: server.url, productId: 8, key, publicKey: pem, ...over });

const refused = async (options: CheckOptions, reason: RegExp) => {
  const err = await check(options).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KeywardVerificationError);
  expect((err as Error).message).toMatch(reason);
};

describe('happy path against the real server', () => {
  it('single check: AUTHORISED with the signing key id and date', async () => {
    const result = await check(base());
    expect(result).toMatchObject({
      status: 'AUTHORISED',
      pass: true,
      details: `Authorisation completed - ${PUBLIC_URL}`,
      httpStatus: 200,
    });
    expect(result.proId).toBeUndefined();
    expect(result.keyId).toMatch(/^kw/);
    expect(Math.abs(Date.parse(result.date) - Date.now())).toBeLessThan(2000);
  });

  it('the raw base64 key works as well as the PEM', async () => {
    expect((await check(base({ publicKey: raw }))).pass).toBe(true);
    expect((await check(base({ publicKey: `  ${raw}\n` }))).pass).toBe(true);
  });

  it('a failure is a verified answer too, not an exception', async () => {
    expect(await check(base({ key: 'no-such-key' }))).toMatchObject({ status: 'NOT FOUND', pass: false, httpStatus: 200 });
    expect(await check(base({ key: disabledKey }))).toMatchObject({ status: 'KEY DISABLED', pass: false });
    expect(await check(base({ productId: 999 }))).toMatchObject({ status: 'NOT FOUND', details: `The product could not be found - ${PUBLIC_URL}` });
  });

  it('multiple check: the first granted product decides and is reported as proId', async () => {
    expect(await check(base({ productId: [8, 16, 32], key: bundleKey }))).toMatchObject({ status: 'AUTHORISED', pass: true, proId: 16 });
    expect(await check(base({ productId: [99, 32], key: bundleKey }))).toMatchObject({ status: 'AUTHORISED', proId: 32 });
    const none = await check(base({ productId: [8], key: bundleKey }));
    expect(none).toMatchObject({ status: 'NOT FOUND', pass: false });
    expect(none.proId).toBeUndefined();
  });

  it('V1 check: the V1 words', async () => {
    expect(await check(base({ v1: true }))).toMatchObject({ status: 'OK', pass: true, details: 'Authorisation completed!' });
    expect(await check(base({ v1: true, key: 'no-such-key' }))).toMatchObject({
      status: 'NOT FOUND',
      details: `The supplied license key was not found. Please check your auth key is correct - ${PUBLIC_URL}`,
    });
  });

  it('sends info (odd characters included) and log:false as the server expects', async () => {
    const { id, key: own } = await server.issue([8]);
    const info = `héllo wörld & ' " <> +%20 ${'✓'.repeat(3)}`;
    expect((await check(base({ key: own, info }))).pass).toBe(true);
    expect((await check(base({ key: own, info: 'not logged', log: false }))).pass).toBe(true);
    await server.flush();
    const rows = await server.services.logs.checks({ licenseId: id, limit: 10 });
    expect(rows.map((r) => r.info)).toEqual([info]);
    expect((await server.services.licenses.show(id)).totalChecks).toBe(2);
  });

  it('a base URL with a trailing slash', async () => {
    expect((await check(base({ url: `${server.url}/` }))).pass).toBe(true);
  });

  it('refuses bad arguments before sending anything', async () => {
    await expect(check(base({ productId: [] }))).rejects.toThrow(TypeError);
    await expect(check(base({ productId: [8, 16], v1: true }))).rejects.toThrow(TypeError);
    await expect(check(base({ productId: [8, 16.5] }))).rejects.toThrow(/whole numbers/);
    await expect(check(base({ productId: ['8' as unknown as number] }))).rejects.toThrow(/whole numbers/);
  });
});

describe('refusals', () => {
  it('an unsigned answer from a fake server that always says AUTHORISED', async () => {
    const url = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ status: 'AUTHORISED', pass: true, details: `Authorisation completed - ${PUBLIC_URL}` }));
    });
    await refused(base({ url }), /not signed/);
  });

  it('a fake server that signs with its own key', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const url = await listen(fakeSigner(privateKey));
    await refused(base({ url }), /does not verify/);
  });

  it('a fake server that copies real signature headers onto its own body', async () => {
    const url = await listen(async (req, res) => {
      const up = await forward(req, { authorization: 'nonsense' });
      reply(res, up, Buffer.from(JSON.stringify({ status: 'AUTHORISED', pass: true, details: `Authorisation completed - ${PUBLIC_URL}` })));
    });
    await refused(base({ url, key: 'cracked' }), /does not verify/);
  });

  it('a proxy that flips one byte of a genuine answer', async () => {
    // Control: the same proxy without the flip passes.
    const clean = await listen(async (req, res) => reply(res, await forward(req)));
    expect((await check(base({ url: clean }))).pass).toBe(true);
    for (const at of [0, 12, 30, -3]) {
      const url = await listen(async (req, res) => {
        const up = await forward(req);
        const body = Buffer.from(up.body);
        const i = at < 0 ? body.length + at : at;
        body[i] = body[i]! ^ 0x01;
        reply(res, up, body);
      });
      await refused(base({ url }), /does not verify|not JSON/);
    }
  });

  it('a proxy that rewrites a NOT FOUND answer into AUTHORISED', async () => {
    const url = await listen(async (req, res) => {
      const up = await forward(req);
      const text = up.body.toString('utf8').replace('"NOT FOUND","pass":false', '"AUTHORISED","pass":true');
      reply(res, up, Buffer.from(text));
    });
    await refused(base({ url, key: 'cracked' }), /does not verify/);
  });

  it('a genuine answer for another product or another path (attacker owns a key for product 16)', async () => {
    const url = await listen(async (req, res) => {
      const path = req.url!.replace('/api/check/8', '/api/check/16');
      reply(res, await forward(req, { path, authorization: bundleKey }));
    });
    await refused(base({ url, key: 'cracked' }), /does not verify/);
  });

  it('a replayed answer: recorded with its headers, served again to a fresh nonce', async () => {
    let recorded: ProxiedAnswer | null = null;
    const url = await listen(async (req, res) => {
      if (!recorded) recorded = await forward(req);
      else req.resume();
      reply(res, recorded);
    });
    // The first call is the genuine one the attacker records (a real buyer's AUTHORISED answer).
    expect((await check(base({ url }))).pass).toBe(true);
    expect(recorded!.headers['x-keyward-signature']).toBeTruthy();
    // Replayed to the next check (a cracked copy with any key): refused.
    await refused(base({ url, key: 'cracked' }), /does not verify/);
    await refused(base({ url }), /does not verify/);
  });

  it('a date outside ±5 minutes, even when correctly signed; maxSkewMs widens it', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const pub = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    let offset = 0;
    const url = await listen(fakeSigner(privateKey, { clock: () => Date.now() + offset }));
    // Control: a correct signature with a current date is accepted.
    expect((await check(base({ url, publicKey: pub }))).pass).toBe(true);
    offset = 4 * 60_000;
    expect((await check(base({ url, publicKey: pub }))).pass).toBe(true);
    offset = -6 * 60_000;
    await refused(base({ url, publicKey: pub }), /too old or from the future/);
    offset = 6 * 60_000;
    await refused(base({ url, publicKey: pub }), /too old or from the future/);
    expect((await check(base({ url, publicKey: pub, maxSkewMs: 10 * 60_000 }))).pass).toBe(true);
    offset = -2000;
    await refused(base({ url, publicKey: pub, maxSkewMs: 1000 }), /too old or from the future/);
  });

  it('a date that is not whole-second ISO UTC', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const pub = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const url = await listen(fakeSigner(privateKey, { formatDate: (ms) => new Date(ms).toISOString() }));
    await refused(base({ url, publicKey: pub }), /invalid date/);
  });

  it('a wrong public key', async () => {
    const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    await refused(base({ publicKey: other }), /does not verify/);
    await refused(base({ publicKey: [other] }), /does not verify/);
  });

  it('a signed answer whose body is not the check shape', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const pub = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const url = await listen(fakeSigner(privateKey, { body: '{"pass":"yes"}' }));
    await refused(base({ url, publicKey: pub }), /check shape/);
  });

  it('a correctly signed 429 is returned, not thrown', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const pub = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const body = JSON.stringify({ status: 'RATE LIMITED', pass: false, details: 'Too many' });
    const url = await listen(fakeSigner(privateKey, { body, status: 429 }));
    expect(await check(base({ url, publicKey: pub }))).toMatchObject({ status: 'RATE LIMITED', pass: false, httpStatus: 429 });
  });
});

describe('key rotation', () => {
  it('a key list is accepted during a rotation; after it, only a list with the new key passes', async () => {
    expect((await check(base({ publicKey: [pem] }))).pass).toBe(true);
    const rotated = await server.services.signingKeys.rotate('test');
    const newPem = rotated.pem;
    expect(rotated.keys[1]!.pem).toBe(pem);
    // The rotation is announced in-process; poll briefly for the signer to load the new key.
    const deadline = Date.now() + 2000;
    while ((await check(base({ publicKey: [pem, newPem] }))).keyId !== rotated.keyId) {
      if (Date.now() > deadline) throw new Error('the server did not switch keys within 2 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await check(base({ publicKey: [pem, newPem] }))).toMatchObject({ pass: true, keyId: rotated.keyId });
    expect(await check(base({ publicKey: [newPem, pem] }))).toMatchObject({ pass: true });
    expect((await check(base({ publicKey: rotated.raw }))).pass).toBe(true);
    await refused(base({ publicKey: pem }), /does not verify/);
  });
});
