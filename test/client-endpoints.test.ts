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
