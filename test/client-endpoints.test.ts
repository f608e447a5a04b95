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

  },
  ENV,
);
