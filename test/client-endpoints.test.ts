import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { signedMessageV2 } from '../src/licensing/answer-signer.js';
import { answerMessageV2 } from './helpers/answer-signature.js';
import { makeUser } from './helpers/dashboard.js';
import { request, type RawResponse } from './helpers/http.js';
import { checkCall, clientCall, DETAILS, ensureProducts, issueFrom, issueLicense, machinesOf, makePolicy, type ClientOp } from './helpers/machines.js';
import { ISO_TIME } from './helpers/patterns.js';
import { eachDialect, PUBLIC_URL } from './helpers/suite.js';
import { startTamperingProxy, type TamperingProxy } from './helpers/tampering-proxy.js';

/**
 * The client endpoints, /api/license/validate|activate|deactivate|heartbeat (docs/check-api.md):
 * every answer of each, inputs from the query or the body, values refused rather than clamped,
 * the brake and the body limit, version 2 signatures, and the separate deactivation allowances of
 * the key holder, the owner and staff. Each test calls from its own IP (X-Real-IP behind
 * TRUST_PROXY=loopback), so the brake, set low here, only meets the misses of its own test.
 */
const FAIL_LIMIT = 3;
const BODY_LIMIT = 2048;
const ENV = { TRUST_PROXY: 'loopback', CHECK_FAIL_LIMIT: String(FAIL_LIMIT), BODY_LIMIT: String(BODY_LIMIT) };
const OPS: ClientOp[] = ['validate', 'activate', 'deactivate', 'heartbeat'];
const INVALID_FINGERPRINT = {
  status: 'INVALID INPUT',
  pass: false,
  details: `fingerprint must be 1 to 255 printable ASCII characters - ${PUBLIC_URL}`,
  machine: null,
};
const RATE_LIMITED = { status: 'RATE LIMITED', pass: false, details: `Too many failed license checks from this IP address, try again later - ${PUBLIC_URL}` };
const MACHINE_VIEW = {
  id: expect.any(Number),
  fingerprint: expect.any(String),
  name: null,
  platform: null,
  hostname: null,
  createdAt: expect.stringMatching(ISO_TIME),
  lastSeenAt: expect.stringMatching(ISO_TIME),
  deadAt: null,
};

let ipSeq = 0;

eachDialect(
  'client endpoints',
  (server) => {
    let ip: string;
    beforeAll(async () => {
      await ensureProducts(server(), [8, 9]);
    });
    beforeEach(() => {
      ip = `203.0.113.${++ipSeq}`;
    });
    const url = () => server().url;
    const call = (op: ClientOp, key: string | null, body: Record<string, unknown> | string = {}, headers: Record<string, string> = {}) =>
      clientCall(url(), op, key, body, { ip, headers });
    /** Previous Auths rows and the total of checks of a license, once every queued write is in. */
    const counted = async (id: number) => {
      await server().flush();
      return { rows: (await server().services.logs.checks({ licenseId: id })).length, total: (await server().services.licenses.show(id)).totalChecks };
    };

    describe('validate', () => {
      it('answers the license (only when the key grants the product) and the caller’s machine', async () => {
        const policy = await makePolicy(server(), [8], { maxMachines: 2, entitlements: ['pro', 'export'], maxUses: 500 });
        const { id, key } = await issueFrom(server(), policy.id);
        const license = { id, productIds: [8], expiresAt: null, entitlements: ['pro', 'export'], maxMachines: 2, machines: 1, uses: 0, maxUses: 500 };

        const first = await call('validate', key, { productId: 8, fingerprint: 'val-1' });
        expect(first.status).toBe(200);
        expect(first.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(first.json).toEqual({ status: 'AUTHORISED', pass: true, details: DETAILS.AUTHORISED, license, machine: { ...MACHINE_VIEW, fingerprint: 'val-1' } });
        // validate auto-activates exactly like a check.
        expect((await machinesOf(server(), id)).map((m) => m.fingerprint)).toEqual(['val-1']);
        expect((await call('validate', key, { productId: 8, fingerprint: 'val-1' })).json.license).toEqual(license);
        expect((await call('validate', key, { productId: 8, fingerprint: 'val-2' })).json.license).toEqual({ ...license, machines: 2 });
        const full = await call('validate', key, { productId: 8, fingerprint: 'val-3' });
        expect(full.json).toEqual({ status: 'TOO MANY MACHINES', pass: false, details: DETAILS['TOO MANY MACHINES'], license: { ...license, machines: 2 }, machine: null });
        const none = await call('validate', key, { productId: 8 });
        expect(none.json).toEqual({ status: 'FINGERPRINT REQUIRED', pass: false, details: DETAILS['FINGERPRINT REQUIRED'], license: { ...license, machines: 2 }, machine: null });

        // A product the key does not grant (9), or one that does not exist (999): no license.
        expect((await call('validate', key, { productId: 9, fingerprint: 'val-1' })).json).toEqual({ status: 'NOT FOUND', pass: false, details: DETAILS['KEY NOT FOUND'], machine: null });
        expect((await call('validate', key, { productId: 999, fingerprint: 'val-1' })).json).toEqual({ status: 'NOT FOUND', pass: false, details: DETAILS['PRODUCT NOT FOUND'], machine: null });
        expect((await call('validate', key, { fingerprint: 'val-1' })).json).toEqual({ status: 'NOT FOUND', pass: false, details: DETAILS['PRODUCT NOT FOUND'], machine: null });
      });

      it('a license that tracks no machines: its license view, machine null; an expired one says so', async () => {
        const plain = await issueLicense(server(), { productIds: [8], expiresAt: '2999-01-01T00:00:00.000Z' });
        expect((await call('validate', plain.key, { productId: 8, fingerprint: 'whatever' })).json).toEqual({
          status: 'AUTHORISED',
          pass: true,
          details: DETAILS.AUTHORISED,
          license: { id: plain.id, productIds: [8], expiresAt: '2999-01-01T00:00:00.000Z', entitlements: [], maxMachines: null, machines: 0, uses: 0, maxUses: null },
          machine: null,
        });
        const expired = await issueLicense(server(), { productIds: [8], expiresAt: '2020-01-02T03:04:05.000Z' });
        const res = await call('validate', expired.key, { productId: 8 });
        expect(res.json).toMatchObject({ status: 'EXPIRED', pass: false, details: `This license key expired on 2020-01-02T03:04:05.000Z - ${PUBLIC_URL}`, machine: null });
        expect(res.json.license).toMatchObject({ id: expired.id, expiresAt: '2020-01-02T03:04:05.000Z' });
      });
    });

    describe('activate', () => {
      it('ACTIVATED with what the client says of its machine, ALREADY ACTIVATED again, TOO MANY MACHINES when full', async () => {
        const policy = await makePolicy(server(), [8], { maxMachines: 2, autoActivate: false });
        const { id, key } = await issueFrom(server(), policy.id);
        const activated = await call('activate', key, { productId: 8, fingerprint: 'act-1', name: 'Build box', platform: 'linux-x64', hostname: 'ci-1' });
        expect(activated.json).toEqual({
          status: 'ACTIVATED',
          pass: true,
          details: DETAILS.ACTIVATED,
          machine: { ...MACHINE_VIEW, fingerprint: 'act-1', name: 'Build box', platform: 'linux-x64', hostname: 'ci-1' },
        });
        const again = await call('activate', key, { productId: 8, fingerprint: 'act-1' });
        expect(again.json).toMatchObject({ status: 'ALREADY ACTIVATED', pass: true, details: DETAILS['ALREADY ACTIVATED'], machine: { id: activated.json.machine.id, fingerprint: 'act-1', name: 'Build box' } });
        // machineName is a synonym of name; a name longer than 255 characters is cut, not refused.
        const long = 'n'.repeat(300);
        expect((await call('activate', key, { productId: 8, fingerprint: 'act-2', machineName: long, platform: 'win32' })).json).toMatchObject({ status: 'ACTIVATED', machine: { name: 'n'.repeat(255), platform: 'win32' } });
        expect((await call('activate', key, { productId: 8, fingerprint: 'act-3', name: 'Third' })).json).toEqual({
          status: 'TOO MANY MACHINES',
          pass: false,
          details: DETAILS['TOO MANY MACHINES'],
          machine: null,
        });
        expect((await call('activate', key, { productId: 8 })).json).toEqual({ status: 'FINGERPRINT REQUIRED', pass: false, details: DETAILS['FINGERPRINT REQUIRED'], machine: null });

        const stored = await machinesOf(server(), id);
        expect(stored).toMatchObject([
          { fingerprint: 'act-1', name: 'Build box', platform: 'linux-x64', hostname: 'ci-1', ip },
          { fingerprint: 'act-2', name: 'n'.repeat(255), platform: 'win32', hostname: null, ip },
        ]);
      });

      it('a check failure comes first: a disabled key answers KEY DISABLED and activates nothing', async () => {
        const policy = await makePolicy(server(), [8], { maxMachines: 2 });
        const { id, key } = await issueFrom(server(), policy.id);
        await server().services.licenses.update(id, { disabled: true }, 'test');
        expect((await call('activate', key, { productId: 8, fingerprint: 'x' })).json).toEqual({
          status: 'KEY DISABLED',
          pass: false,
          details: `This license key has been disabled by staff - ${PUBLIC_URL}`,
          machine: null,
        });
        expect(await machinesOf(server(), id)).toEqual([]);
      });
    });

    describe('deactivate', () => {
      it('DEACTIVATED, NOT ACTIVATED for an unknown machine, DEACTIVATION LIMIT past deactivationsPerDay', async () => {
        const policy = await makePolicy(server(), [8], { maxMachines: 5, deactivationsPerDay: 2 });
        const { id, key } = await issueFrom(server(), policy.id);
        for (const fp of ['d-1', 'd-2', 'd-3', 'd-4']) expect((await call('activate', key, { productId: 8, fingerprint: fp })).json.status).toBe('ACTIVATED');

        const freed = await call('deactivate', key, { productId: 8, fingerprint: 'd-1' });
        expect(freed.json).toEqual({ status: 'DEACTIVATED', pass: true, details: DETAILS.DEACTIVATED, machine: { ...MACHINE_VIEW, fingerprint: 'd-1' } });
        expect((await call('deactivate', key, { productId: 8, fingerprint: 'd-1' })).json).toEqual({
          status: 'NOT ACTIVATED',
          pass: false,
          details: DETAILS['NOT ACTIVATED'],
          machine: null,
        });
        expect((await call('deactivate', key, { productId: 8, fingerprint: 'never-seen' })).json.status).toBe('NOT ACTIVATED');
        expect((await call('deactivate', key, { productId: 8, fingerprint: 'd-2' })).json.status).toBe('DEACTIVATED');
        const limited = await call('deactivate', key, { productId: 8, fingerprint: 'd-3' });
        expect(limited.json).toMatchObject({ status: 'DEACTIVATION LIMIT', pass: false, details: DETAILS['DEACTIVATION LIMIT'] });
        expect((await machinesOf(server(), id)).map((m) => m.fingerprint)).toEqual(['d-3', 'd-4']);
        expect(await server().services.machines.deactivationsLeft(id, 'key')).toBe(0);
        expect(await server().services.machines.deactivationsLeft(id, 'owner')).toBe(2);
        // A freed machine may come back while a slot is free.
        expect((await call('validate', key, { productId: 8, fingerprint: 'd-1' })).json.status).toBe('AUTHORISED');
      });
    });

    describe('heartbeat', () => {
      it('ALIVE with nextHeartbeatBy when the policy has heartbeatSeconds; NOT ACTIVATED for an unknown machine, which it never activates', async () => {
        const policy = await makePolicy(server(), [8], { maxMachines: 2, heartbeatSeconds: 60 });
        const { id, key } = await issueFrom(server(), policy.id);
        expect((await call('activate', key, { productId: 8, fingerprint: 'hb-1' })).json.status).toBe('ACTIVATED');
        const before = Date.now();
        const alive = await call('heartbeat', key, { productId: 8, fingerprint: 'hb-1' });
        const after = Date.now();
        expect(alive.json).toEqual({
          status: 'ALIVE',
          pass: true,
          details: DETAILS.ALIVE,
          machine: { ...MACHINE_VIEW, fingerprint: 'hb-1', deadAt: expect.stringMatching(ISO_TIME) },
          nextHeartbeatBy: expect.stringMatching(ISO_TIME),
        });
        const next = Date.parse(alive.json.nextHeartbeatBy);
        expect(next).toBeGreaterThanOrEqual(before + 60_000);
        expect(next).toBeLessThanOrEqual(after + 60_000);
        expect(alive.json.machine.deadAt).toBe(alive.json.nextHeartbeatBy);

        expect((await call('heartbeat', key, { productId: 8, fingerprint: 'hb-unknown' })).json).toEqual({
          status: 'NOT ACTIVATED',
          pass: false,
          details: DETAILS['NOT ACTIVATED'],
          machine: null,
          nextHeartbeatBy: null,
        });
        expect((await machinesOf(server(), id)).map((m) => m.fingerprint)).toEqual(['hb-1']);
      });

      it('ALIVE with nextHeartbeatBy null when the policy has no heartbeat', async () => {
        const policy = await makePolicy(server(), [8], { maxMachines: 2 });
        const { key } = await issueFrom(server(), policy.id);
        await call('activate', key, { productId: 8, fingerprint: 'hb-2' });
        expect((await call('heartbeat', key, { productId: 8, fingerprint: 'hb-2' })).json).toEqual({
          status: 'ALIVE',
          pass: true,
          details: DETAILS.ALIVE,
          machine: { ...MACHINE_VIEW, fingerprint: 'hb-2' },
          nextHeartbeatBy: null,
        });
      });
    });

    it('a first-use clock starts at the first passing client answer, which already shows the expiry; refusals do not start it', async () => {
      const policy = await makePolicy(server(), [8], { maxMachines: 1, autoActivate: false, durationDays: 30, expiryBasis: 'first-use' });
      const { id, key } = await issueFrom(server(), policy.id);
      expect((await call('validate', key, { productId: 8, fingerprint: 'fu-1' })).json).toMatchObject({ status: 'NOT ACTIVATED', license: { expiresAt: null } });
      expect((await call('heartbeat', key, { productId: 8, fingerprint: 'fu-1' })).json.status).toBe('NOT ACTIVATED');
      expect((await call('deactivate', key, { productId: 8, fingerprint: 'fu-1' })).json.status).toBe('NOT ACTIVATED');
      expect((await server().services.licenses.show(id)).expiresAt).toBeNull();

      const before = Date.now();
      expect((await call('activate', key, { productId: 8, fingerprint: 'fu-1' })).json.status).toBe('ACTIVATED');
      const started = (await server().services.licenses.show(id)).expiresAt!;
      expect(Date.parse(started) - before).toBeGreaterThanOrEqual(30 * 86_400_000);
      expect(Date.parse(started) - Date.now()).toBeLessThanOrEqual(30 * 86_400_000);
      expect((await call('validate', key, { productId: 8, fingerprint: 'fu-1' })).json).toMatchObject({ status: 'AUTHORISED', license: { expiresAt: started } });

      // A validate that is the first use answers the expiry it just started.
      const auto = await makePolicy(server(), [8], { maxMachines: 1, durationDays: 30, expiryBasis: 'first-use' });
      const second = await issueFrom(server(), auto.id);
      const first = await call('validate', second.key, { productId: 8, fingerprint: 'fu-2' });
      expect(first.json.status).toBe('AUTHORISED');
      expect(first.json.license.expiresAt).toBe((await server().services.licenses.show(second.id)).expiresAt);
      expect(first.json.license.expiresAt).not.toBeNull();
    });

    it('a license that tracks no machines: the machine endpoints answer AUTHORISED with machine null', async () => {
      const { id, key } = await issueLicense(server(), { productIds: [8] });
      for (const op of ['activate', 'deactivate', 'heartbeat'] as const) {
        const res = await call(op, key, { productId: 8, fingerprint: 'plain-1' });
        expect(res.json).toEqual({ status: 'AUTHORISED', pass: true, details: DETAILS.AUTHORISED, machine: null, ...(op === 'heartbeat' && { nextHeartbeatBy: null }) });
      }
      expect(await machinesOf(server(), id)).toEqual([]);
      // Every call is a check: counted and logged.
      expect(await counted(id)).toEqual({ rows: 3, total: 3 });
    });

    describe('inputs', () => {
      let key: string;
      let id: number;
      beforeAll(async () => {
        const policy = await makePolicy(server(), [8], { maxMachines: 20 });
        ({ id, key } = await issueFrom(server(), policy.id));
      });

      it.each([
        ['the query, no body', '?productId=8&fingerprint=in-query&name=Q', undefined, undefined, 'in-query', 'Q'],
        ['a JSON body', '', 'application/json', '{"productId":8,"fingerprint":"in-json","name":"J"}', 'in-json', 'J'],
        ['a JSON body with productId as text', '', 'application/json', '{"productId":"8","fingerprint":"in-json-text"}', 'in-json-text', null],
        ['a JSON body without Content-Type', '', undefined, '{"productId":8,"fingerprint":"in-json-bare"}', 'in-json-bare', null],
        ['a form body', '', 'application/x-www-form-urlencoded', 'productId=8&fingerprint=in-form&machineName=F', 'in-form', 'F'],
        ['an empty body with the query', '?productId=8&fingerprint=in-query-empty', 'application/json', '', 'in-query-empty', null],
        ['the body over the query', '?productId=9&fingerprint=from-query', 'application/json', '{"productId":8,"fingerprint":"from-body"}', 'from-body', null],
      ])('reads productId, fingerprint and name from %s', async (_, query, type, body, fingerprint, name) => {
        const headers: Record<string, string> = { authorization: key, 'x-real-ip': ip };
        if (type) headers['content-type'] = type;
        const res = await request(url(), { method: 'POST', path: `/api/license/activate${query}`, headers, body });
        expect(res.json).toMatchObject({ status: 'ACTIVATED', machine: { fingerprint, name } });
      });

      it.each(OPS)('%s: bad bodies never answer 4xx or 5xx', async (op) => {
        const bodies: [string | undefined, string][] = [
          ['application/json', '{'],
          ['application/json', '[1,2,3]'],
          ['application/json', 'null'],
          ['application/json', '"text"'],
          ['application/json', '{"productId":{"$gt":0},"fingerprint":["a"]}'],
          ['application/json', '{"productId":1e400,"fingerprint":"x"}'],
          ['application/json', `${'['.repeat(500)}${']'.repeat(500)}`],
          ['application/x-www-form-urlencoded', '%%%&&&=='],
          ['text/plain', 'productId=8&fingerprint=plain-text'],
          ['application/octet-stream', '\u0000\u00ff\u0001binary'],
          [undefined, '<xml/>'],
          ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="productId"\r\n\r\n8\r\n--x--'],
        ];
        for (const [type, body] of bodies) {
          const headers: Record<string, string> = { authorization: key, 'x-real-ip': ip };
          if (type) headers['content-type'] = type;
          const res = await request(url(), { method: 'POST', path: `/api/license/${op}`, headers, body });
          expect(res.status, `${type} ${body}`).toBe(200);
          expect(res.json, `${type} ${body}`).toMatchObject({ status: expect.any(String), pass: expect.any(Boolean), details: expect.any(String) });
        }
      });

      it.each(OPS)('%s: a fingerprint of 256 characters, non-ASCII, empty or with a control character is INVALID INPUT and counts nothing', async (op) => {
        const before = await counted(id);
        for (const fingerprint of ['f'.repeat(256), 'café', 'ключ', '', 'tab\there', 'line\nbreak', 42, true, { a: 1 }]) {
          const res = await call(op, key, { productId: 8, fingerprint });
          expect(res.status).toBe(200);
          // Each endpoint keeps its answer's shape: heartbeat's has nextHeartbeatBy (null).
          expect(res.json, JSON.stringify(fingerprint)).toEqual(op === 'heartbeat' ? { ...INVALID_FINGERPRINT, nextHeartbeatBy: null } : INVALID_FINGERPRINT);
        }
        // From the query too (URL-encoded non-ASCII and empty).
        for (const query of ['fingerprint=caf%C3%A9', 'fingerprint=', `fingerprint=${'q'.repeat(256)}`]) {
          const res = await request(url(), { method: 'POST', path: `/api/license/${op}?productId=8&${query}`, headers: { authorization: key, 'x-real-ip': ip } });
          expect(res.json, query).toEqual(op === 'heartbeat' ? { ...INVALID_FINGERPRINT, nextHeartbeatBy: null } : INVALID_FINGERPRINT);
        }
        expect(await counted(id)).toEqual(before);
        // 255 printable ASCII characters are a fingerprint.
        expect((await call(op, key, { productId: 8, fingerprint: `~ ${'f'.repeat(253)}` })).json.status).not.toBe('INVALID INPUT');
      });

      it('on a check endpoint a bad fingerprint counts as none: FINGERPRINT REQUIRED, and the check is counted', async () => {
        const before = await counted(id);
        for (const fp of [encodeURIComponent('f'.repeat(256)), 'caf%C3%A9', '']) {
          expect((await checkCall(url(), `/api/check/8?fingerprint=${fp}`, key, { ip })).json.status).toBe('FINGERPRINT REQUIRED');
        }
        expect((await checkCall(url(), '/api/check/multiple?proIds=8', key, { ip, headers: { 'content-type': 'application/json' }, body: '{"fingerprint":"ü"}' })).json.status).toBe('FINGERPRINT REQUIRED');
        const after = await counted(id);
        expect(after).toEqual({ rows: before.rows + 4, total: before.total + 4 });
      });
    });

    it('an unknown key is NOT FOUND and counts toward CHECK_FAIL_LIMIT: then 429 RATE LIMITED, the check endpoints’ shape', async () => {
      const { key } = await issueLicense(server(), { productIds: [8] });
      const misses = [await call('validate', 'unknown-key-0000000001', { productId: 8 }), await call('activate', 'unknown-key-0000000002', { productId: 8, fingerprint: 'a' })];
      misses.push(await checkCall(url(), '/api/check/8', 'unknown-key-0000000003', { ip }));
      for (const res of misses) {
        expect(res.status).toBe(200);
        expect(res.json).toMatchObject({ status: 'NOT FOUND', pass: false, details: DETAILS['KEY NOT FOUND'] });
      }
      for (const op of OPS) {
        const res = await call(op, key, { productId: 8, fingerprint: 'a' });
        expect(res.status).toBe(429);
        expect(res.text).toBe(JSON.stringify(RATE_LIMITED));
        expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        expect(res.headers['x-keyward-signature']).toEqual(expect.any(String));
      }
      expect((await checkCall(url(), '/api/check/8', key, { ip })).status).toBe(429);
      // Another caller is not affected.
      expect((await clientCall(url(), 'validate', key, { productId: 8 }, { ip: '198.51.100.200' })).json.status).toBe('AUTHORISED');
    });

    it.each(OPS)('%s: a body over BODY_LIMIT is refused with 413', async (op) => {
      const { key } = await issueLicense(server(), { productIds: [8] });
      const body = JSON.stringify({ productId: 8, fingerprint: 'x', info: 'i'.repeat(BODY_LIMIT) });
      const sized = await request(url(), { method: 'POST', path: `/api/license/${op}`, headers: { authorization: key, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'x-real-ip': ip }, body });
      const chunked = await request(url(), { method: 'POST', path: `/api/license/${op}`, headers: { authorization: key, 'content-type': 'application/json', 'x-real-ip': ip }, body: Buffer.from(body) });
      for (const res of [sized, chunked]) {
        expect(res.status).toBe(413);
        expect(res.json).toEqual({ status: 'PAYLOAD TOO LARGE', pass: false, details: `The request body is too large - ${PUBLIC_URL}` });
      }
    });

    describe('version 2 signatures', () => {
      let publicKey: KeyObject;
      let keyId: string;
      let key: string;
      const proxies: TamperingProxy[] = [];
      beforeAll(async () => {
        const pk = (await request(url(), { method: 'GET', path: '/api/public-key' })).json;
        publicKey = createPublicKey(pk.pem);
        keyId = pk.keyId;
        const policy = await makePolicy(server(), [8], { maxMachines: 5, heartbeatSeconds: 600 });
        ({ key } = await issueFrom(server(), policy.id));
      });
      afterEach(async () => {
        await Promise.all(proxies.splice(0).map((p) => p.close()));
      });

      /** Whether the answer verifies for the request as the client sent it (target, nonce, body bytes). */
      const verifies = (res: RawResponse, target: string, nonce: string, sentBody: string): boolean => {
        const date = res.headers['x-keyward-date'] as string;
        const message = answerMessageV2('POST', target, date, nonce, Buffer.from(sentBody), Buffer.from(res.text));
        // The server's own message builder says the same as docs/signed-answers.md.
        expect(signedMessageV2('POST', target, date, nonce, Buffer.from(sentBody), res.text)).toBe(message.toString('utf8'));
        return verify(null, message, publicKey, Buffer.from(res.headers['x-keyward-signature'] as string, 'base64'));
      };

      it.each(OPS)('%s: every answer is signed with version 2 over the request body and the answer', async (op) => {
        const bodies = [
          JSON.stringify({ productId: 8, fingerprint: `sig-${op}`, nonce: `n-${op}-1` }),
          JSON.stringify({ productId: 8, fingerprint: 'caf\u00e9', nonce: `n-${op}-2` }),
          JSON.stringify({ productId: 999, fingerprint: 'sig', nonce: `n-${op}-3` }),
          '{not json',
        ];
        for (const body of bodies) {
          const res = await call(op, key, body, { 'content-type': 'application/json' });
          const nonce = /"nonce":"([^"]+)"/.exec(body)?.[1] ?? '';
          expect(res.headers['x-keyward-signature-version']).toBe('2');
          expect(res.headers['x-keyward-key-id']).toBe(keyId);
          expect(res.headers['x-keyward-date']).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
          expect(verifies(res, `/api/license/${op}`, nonce, body), body).toBe(true);
          expect(verifies(res, `/api/license/${op}`, nonce, `${body} `), body).toBe(false);
          expect(verifies(res, `/api/license/${op}`, `${nonce}x`, body), body).toBe(false);
        }
        // A nonce in the query, and no body at all.
        const target = `/api/license/${op}?productId=8&fingerprint=sig-q&nonce=q-${op}`;
        const res = await request(url(), { method: 'POST', path: target, headers: { authorization: key, 'x-real-ip': ip } });
        expect(verifies(res, target, `q-${op}`, '')).toBe(true);
        expect(verifies(res, target, `q-${op}`, '{}')).toBe(false);
      });

      it('a proxy that changes the request body gets a genuine answer that does not verify for what the client sent', async () => {
        const sent = JSON.stringify({ productId: 8, fingerprint: 'honest-machine', nonce: 'proxy-1' });
        const swapped = JSON.stringify({ productId: 8, fingerprint: 'other-machine', nonce: 'proxy-1' });
        const proxy = await startTamperingProxy(url(), (req) => ({ ...req, body: Buffer.from(swapped) }));
        proxies.push(proxy);
        const res = await request(proxy.url, { method: 'POST', path: '/api/license/activate', headers: { authorization: key, 'content-type': 'application/json', 'x-real-ip': ip }, body: sent });
        expect(res.json).toMatchObject({ status: 'ACTIVATED', pass: true, machine: { fingerprint: 'other-machine' } });
        expect(verifies(res, '/api/license/activate', 'proxy-1', swapped)).toBe(true);
        expect(verifies(res, '/api/license/activate', 'proxy-1', sent)).toBe(false);
      });

      it('the check endpoints keep version 1', async () => {
        const res = await checkCall(url(), '/api/check/8?fingerprint=v1', key, { ip });
        expect(res.json.status).toBe('AUTHORISED');
        expect(res.headers['x-keyward-signature-version']).toBeUndefined();
        expect(res.headers['x-keyward-signature']).toEqual(expect.any(String));
      });
    });

    it('the key holder and the owner have separate daily allowances; staff have none', async () => {
      const owner = await makeUser(server(), `owner-${server().db.dialect}`);
      const stranger = await makeUser(server(), `stranger-${server().db.dialect}`);
      const policy = await makePolicy(server(), [8], { maxMachines: 10, deactivationsPerDay: 1 });
      const { id, key } = await issueFrom(server(), policy.id, { owner: owner.username });
      for (let i = 1; i <= 6; i++) expect((await call('activate', key, { productId: 8, fingerprint: `b-${i}` })).json.status).toBe('ACTIVATED');
      const byFingerprint = async () => new Map((await machinesOf(server(), id)).map((m) => [m.fingerprint, m.id]));
      const ids = await byFingerprint();
      const machines = server().services.machines;
      const asOwner = { by: 'owner' as const, actor: `user:${owner.username}`, userId: owner.id };

      expect((await call('deactivate', key, { productId: 8, fingerprint: 'b-1' })).json.status).toBe('DEACTIVATED');
      expect((await call('deactivate', key, { productId: 8, fingerprint: 'b-2' })).json.status).toBe('DEACTIVATION LIMIT');
      // The owner's allowance is untouched by the key holder's.
      expect(await machines.deactivationsLeft(id, 'owner')).toBe(1);
      expect((await machines.list(id, { role: 'customer', userId: owner.id })).deactivationsLeft).toBe(1);
      expect((await machines.deactivate(id, { id: ids.get('b-2')! }, asOwner))?.status).toBe('DEACTIVATED');
      expect((await machines.deactivate(id, { id: ids.get('b-3')! }, asOwner))?.status).toBe('DEACTIVATION LIMIT');
      expect((await machines.list(id, { role: 'customer', userId: owner.id })).deactivationsLeft).toBe(0);
      // Someone else is not the owner: nothing happens.
      expect(await machines.deactivate(id, { id: ids.get('b-3')! }, { by: 'owner', actor: 'user:stranger', userId: stranger.id })).toBeNull();
      // Staff are not limited, and spend no one's allowance.
      for (const fp of ['b-3', 'b-4', 'b-5']) await machines.deactivateById(ids.get(fp)!, 'staff:test');
      expect([...(await byFingerprint()).keys()]).toEqual(['b-6']);
      expect(await machines.deactivationsLeft(id, 'key')).toBe(0);
      expect(await machines.deactivationsLeft(id, 'owner')).toBe(0);
      expect((await call('deactivate', key, { productId: 8, fingerprint: 'b-6' })).json.status).toBe('DEACTIVATION LIMIT');
    });
  },
  ENV,
);
