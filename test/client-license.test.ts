import { generateKeyPairSync } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  activate,
  check,
  deactivate,
  heartbeat,
  KeywardVerificationError,
  validate,
  type LicenseCallOptions,
} from '../src/client/index.js';
import { fakeSigner } from './helpers/answer-signature.js';
import { createSqlite } from './helpers/dialects.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { forward as forwardTo, reply, standIns } from './helpers/stand-in-servers.js';
import { PUBLIC_URL } from './helpers/suite.js';
import { startTamperingProxy, type ProxiedAnswer, type ProxiedRequest, type TamperingProxy } from './helpers/tampering-proxy.js';

/**
 * keyward/client's client-endpoint calls (validate, activate, deactivate, heartbeat) and check's
 * fingerprint, against the real server; and the attacks their version 2 signature exists for: a
 * proxy that changes the request body (another fingerprint, another product), a tampered or
 * replayed answer, a fake server.
 */

let server: TestServer;
let pem: string;
/** Product 8; the policies below issue licenses for it. */
let policies: { seats2: number; nodeLocked: number; byIp: number; oneFreePerDay: number };

beforeAll(async () => {
  server = await startTestServer(await createSqlite());
  await server.issue([8]);
  const create = (name: string, settings: Record<string, unknown>) => server.services.policies.create({ name, productIds: [8], ...settings }, 'test').then((p) => p.id);
  policies = {
    seats2: await create('Two seats', { maxMachines: 2, heartbeatSeconds: 300 }),
    nodeLocked: await create('Node-locked', { maxMachines: 1, autoActivate: false }),
    byIp: await create('Three servers', { maxMachines: 3, machineIdentity: 'ip' }),
    oneFreePerDay: await create('One free a day', { maxMachines: 5, deactivationsPerDay: 1 }),
  };
  ({ pem } = await (await fetch(`${server.url}/api/public-key`)).json());
});
afterAll(async () => {
  await server?.close();
  await server?.db.cleanup();
});
const proxies: TamperingProxy[] = [];
const stands = standIns();
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  await stands.closeAll();
});

const issue = async (policyId: number) => (await server.services.licenses.create({ policyId }, 'test')) as { id: number; key: string };
const opts = (key: string, over: Partial<LicenseCallOptions> = {}): LicenseCallOptions => ({ url: server.url, productId: 8, key, publicKey: pem, ...over });

const refused = async (call: Promise<unknown>, reason: RegExp) => {
  const err = await call.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KeywardVerificationError);
  expect((err as Error).message).toMatch(reason);
};

async function proxy(tamper: (req: ProxiedRequest) => ProxiedRequest): Promise<string> {
  const p = await startTamperingProxy(server.url, tamper);
  proxies.push(p);
  return p.url;
}

/** A tamper that rewrites fields of the JSON request body. */
const rewriteBody = (change: Record<string, unknown>) => (req: ProxiedRequest): ProxiedRequest => ({
  ...req,
  body: Buffer.from(JSON.stringify({ ...JSON.parse(req.body.toString('utf8')), ...change })),
});

describe('validate', () => {
  it('with a fingerprint: AUTHORISED, the license and this machine (activated by the call), verified', async () => {
    const { id, key } = await issue(policies.seats2);
    const result = await validate(opts(key, { fingerprint: 'laptop-1', name: 'Work laptop', platform: 'linux', hostname: 'wl1' }));
    expect(result).toMatchObject({
      status: 'AUTHORISED',
      pass: true,
      details: `Authorisation completed - ${PUBLIC_URL}`,
      httpStatus: 200,
      license: { id, productIds: [8], expiresAt: null, entitlements: [], maxMachines: 2, uses: 0, maxUses: null },
      machine: { fingerprint: 'laptop-1', name: 'Work laptop', platform: 'linux', hostname: 'wl1' },
    });
    expect((await validate(opts(key, { fingerprint: 'laptop-1' }))).license).toMatchObject({ machines: 1 });
    expect(result.keyId).toMatch(/^kw/);
    // Policies with a heartbeat: the machine dies 300 s after it was last seen.
    expect(Date.parse(result.machine!.deadAt!) - Date.parse(result.machine!.lastSeenAt)).toBe(300_000);
    const { machines } = await server.services.machines.list(id);
    expect(machines.map((m) => m.fingerprint)).toEqual(['laptop-1']);
  });

  it('without a fingerprint on a license that counts machines: FINGERPRINT REQUIRED, no machine', async () => {
    const { key } = await issue(policies.seats2);
    expect(await validate(opts(key))).toMatchObject({ status: 'FINGERPRINT REQUIRED', pass: false, machine: null, license: { maxMachines: 2, machines: 0 } });
  });

  it('a license that counts no machines: AUTHORISED with machine null and maxMachines null', async () => {
    const { key } = await server.issue([8]);
    expect(await validate(opts(key, { fingerprint: 'any' }))).toMatchObject({ status: 'AUTHORISED', pass: true, machine: null, license: { maxMachines: null, machines: 0 } });
  });

  it('an unknown key or one that does not grant the product: NOT FOUND and no license', async () => {
    expect(await validate(opts('no-such-key', { fingerprint: 'a' }))).toMatchObject({ status: 'NOT FOUND', pass: false, license: null, machine: null });
    const { key } = await server.issue([16]);
    expect(await validate(opts(key, { fingerprint: 'a' }))).toMatchObject({ status: 'NOT FOUND', license: null });
    expect(await validate(opts(key, { productId: 999 }))).toMatchObject({ status: 'NOT FOUND', details: `The product could not be found - ${PUBLIC_URL}` });
  });

  it('sends info and log:false; each call is a Previous Auths entry marked with its endpoint', async () => {
    const { id, key } = await issue(policies.seats2);
    await validate(opts(key, { fingerprint: 'a', info: 'build 7' }));
    await heartbeat(opts(key, { fingerprint: 'a', log: false }));
    await server.flush();
    const rows = await server.services.logs.checks({ licenseId: id, limit: 10 });
    expect(rows.map((r) => [r.endpoint, r.status, r.info])).toEqual([['validate', 'AUTHORISED', 'build 7']]);
    expect((await server.services.licenses.show(id)).totalChecks).toBe(2);
  });

  it('a base URL with a trailing slash', async () => {
    const { key } = await issue(policies.seats2);
    expect((await validate(opts(key, { url: `${server.url}/`, fingerprint: 'a' }))).pass).toBe(true);
  });
});

describe('activate, heartbeat, deactivate', () => {
  it('node-locked (autoActivate false): a check does not take the slot, activate does, once', async () => {
    const { id, key } = await issue(policies.nodeLocked);
    expect(await validate(opts(key, { fingerprint: 'pc-1' }))).toMatchObject({ status: 'NOT ACTIVATED', pass: false, machine: null });
    const first = await activate(opts(key, { fingerprint: 'pc-1', name: 'Studio PC', platform: 'win32', hostname: 'studio' }));
    expect(first).toMatchObject({
      status: 'ACTIVATED',
      pass: true,
      details: `Machine activated - ${PUBLIC_URL}`,
      machine: { fingerprint: 'pc-1', name: 'Studio PC', platform: 'win32', hostname: 'studio', deadAt: null },
    });
    expect(await activate(opts(key, { fingerprint: 'pc-1' }))).toMatchObject({ status: 'ALREADY ACTIVATED', pass: true, machine: { id: first.machine!.id } });
    expect(await validate(opts(key, { fingerprint: 'pc-1' }))).toMatchObject({ status: 'AUTHORISED', machine: { id: first.machine!.id } });
    expect(await activate(opts(key, { fingerprint: 'pc-2' }))).toMatchObject({ status: 'TOO MANY MACHINES', pass: false, machine: null });
    expect((await server.services.machines.list(id)).machines).toHaveLength(1);
  });

  it('heartbeat: ALIVE for an active machine, NOT ACTIVATED for one the license does not have', async () => {
    const { key } = await issue(policies.seats2);
    await activate(opts(key, { fingerprint: 'srv-1' }));
    const alive = await heartbeat(opts(key, { fingerprint: 'srv-1' }));
    expect(alive).toMatchObject({ status: 'ALIVE', pass: true, details: `Heartbeat received - ${PUBLIC_URL}`, machine: { fingerprint: 'srv-1' } });
    expect(alive).toHaveProperty('nextHeartbeatBy');
    expect(await heartbeat(opts(key, { fingerprint: 'srv-2' }))).toMatchObject({ status: 'NOT ACTIVATED', pass: false, machine: null, nextHeartbeatBy: null });
  });

  it('deactivate frees the slot; the key may free deactivationsPerDay machines a day, then DEACTIVATION LIMIT', async () => {
    const { id, key } = await issue(policies.oneFreePerDay);
    await activate(opts(key, { fingerprint: 'a' }));
    await activate(opts(key, { fingerprint: 'b' }));
    expect(await deactivate(opts(key, { fingerprint: 'a' }))).toMatchObject({ status: 'DEACTIVATED', pass: true, details: `Machine deactivated - ${PUBLIC_URL}` });
    expect(await deactivate(opts(key, { fingerprint: 'a' }))).toMatchObject({ status: 'NOT ACTIVATED', pass: false, machine: null });
    expect(await deactivate(opts(key, { fingerprint: 'b' }))).toMatchObject({
      status: 'DEACTIVATION LIMIT',
      pass: false,
      details: `This license key has freed as many machines as it may today; try again tomorrow - ${PUBLIC_URL}`,
    });
    expect((await server.services.machines.list(id)).machines.map((m) => m.fingerprint)).toEqual(['b']);
  });

  it('machines identified by IP: no fingerprint needed, the caller IP is the machine', async () => {
    const { key } = await issue(policies.byIp);
    expect(await activate(opts(key))).toMatchObject({ status: 'ACTIVATED', machine: { fingerprint: '127.0.0.1' } });
    expect(await heartbeat(opts(key))).toMatchObject({ status: 'ALIVE', machine: { fingerprint: '127.0.0.1' } });
    expect(await validate(opts(key, { fingerprint: 'ignored' }))).toMatchObject({ status: 'AUTHORISED', machine: { fingerprint: '127.0.0.1' }, license: { machines: 1 } });
  });

  it('a license that counts no machines answers the check status with machine null', async () => {
    const { key } = await server.issue([8]);
    expect(await activate(opts(key, { fingerprint: 'a' }))).toMatchObject({ status: 'AUTHORISED', machine: null });
    expect(await heartbeat(opts(key, { fingerprint: 'a' }))).toMatchObject({ status: 'AUTHORISED', machine: null, nextHeartbeatBy: null });
    expect(await deactivate(opts(key, { fingerprint: 'a' }))).toMatchObject({ status: 'AUTHORISED', machine: null });
  });

  it('refuses bad arguments before sending anything', async () => {
    const { id, key } = await issue(policies.seats2);
    await expect(validate(opts(key, { fingerprint: '' }))).rejects.toThrow(/fingerprint: 1 to 255 printable ASCII/);
    await expect(activate(opts(key, { fingerprint: 'é' }))).rejects.toThrow(TypeError);
    await expect(heartbeat(opts(key, { fingerprint: 'x'.repeat(256) }))).rejects.toThrow(/fingerprint/);
    await expect(deactivate(opts(key, { fingerprint: 'a\n' }))).rejects.toThrow(/fingerprint/);
    await expect(validate(opts(key, { productId: 8.5 }))).rejects.toThrow(/productId/);
    await expect(validate(opts(key, { productId: '8' as unknown as number }))).rejects.toThrow(/productId/);
    await server.flush();
    expect((await server.services.licenses.show(id)).totalChecks).toBe(0);
  });
});

describe('check() with a fingerprint', () => {
  it('activates the machine like any check, keeping machineName; without one: FINGERPRINT REQUIRED', async () => {
    const { id, key } = await issue(policies.seats2);
    expect(await check({ url: server.url, productId: 8, key, publicKey: pem })).toMatchObject({ status: 'FINGERPRINT REQUIRED', pass: false });
    expect(await check({ url: server.url, productId: 8, key, publicKey: pem, fingerprint: 'fp 1+2', machineName: 'Game server' })).toMatchObject({ status: 'AUTHORISED', pass: true });
    expect(await check({ url: server.url, productId: [8, 9], key, publicKey: pem, fingerprint: 'fp-3' })).toMatchObject({ status: 'AUTHORISED', proId: 8 });
    expect(await check({ url: server.url, productId: 8, key, publicKey: pem, fingerprint: 'fp-4' })).toMatchObject({ status: 'TOO MANY MACHINES', pass: false });
    const { machines } = await server.services.machines.list(id);
    expect(machines.map((m) => [m.fingerprint, m.name])).toEqual([
      ['fp 1+2', 'Game server'],
      ['fp-3', null],
    ]);
    await expect(check({ url: server.url, productId: 8, key, publicKey: pem, fingerprint: 'ü' })).rejects.toThrow(TypeError);
  });

  it('the fingerprint is in the signed query: a proxy that changes it there is refused', async () => {
    const { key } = await issue(policies.seats2);
    const url = await proxy((req) => ({ ...req, url: req.url.replace('fingerprint=mine', 'fingerprint=other') }));
    await refused(check({ url, productId: 8, key, publicKey: pem, fingerprint: 'mine' }), /does not verify/);
  });
});

describe('refusals (version 2 signatures)', () => {
  it('control: an honest proxy changes nothing', async () => {
    const { key } = await issue(policies.seats2);
    const url = await proxy((req) => req);
    expect(await validate(opts(key, { url, fingerprint: 'a' }))).toMatchObject({ status: 'AUTHORISED', pass: true });
  });

  it('a proxy that swaps the fingerprint in the request body for an activated one', async () => {
    // The attacker's own license has machine "paid-box" activated; a second box tries to pass as it.
    const { key } = await issue(policies.nodeLocked);
    expect((await activate(opts(key, { fingerprint: 'paid-box' }))).status).toBe('ACTIVATED');
    const url = await proxy(rewriteBody({ fingerprint: 'paid-box' }));
    // The server's answer is genuine (AUTHORISED for paid-box) but signed over the changed body.
    await refused(validate(opts(key, { url, fingerprint: 'second-box' })), /does not verify/);
    await refused(heartbeat(opts(key, { url, fingerprint: 'second-box' })), /does not verify/);
  });

  it('a proxy that asks about another product in the body', async () => {
    const { key: key16 } = await server.issue([16]);
    const url = await proxy(rewriteBody({ productId: 16 }));
    await refused(validate(opts(key16, { url, productId: 8 })), /does not verify/);
  });

  it('a proxy that sends the call to another endpoint (a check answer, signed with version 1)', async () => {
    const { key } = await issue(policies.seats2);
    const url = await proxy((req) => ({ ...req, url: '/api/check/8' }));
    await refused(activate(opts(key, { url, fingerprint: 'a' })), /does not verify/);
  });

  it('a proxy that flips one byte of a genuine answer', async () => {
    const { key } = await issue(policies.seats2);
    const url = await stands.listen(async (req, res) => {
      const up = await forwardTo(server.url, req);
      const body = Buffer.from(up.body);
      body[12] = body[12]! ^ 0x01;
      reply(res, up, body);
    });
    await refused(validate(opts(key, { url, fingerprint: 'a' })), /does not verify/);
  });

  it('a replayed genuine answer (recorded with its headers)', async () => {
    const { key } = await issue(policies.seats2);
    let recorded: ProxiedAnswer | null = null;
    const url = await stands.listen(async (req, res) => {
      if (!recorded) recorded = await forwardTo(server.url, req);
      else req.resume();
      reply(res, recorded);
    });
    expect((await heartbeat(opts(key, { url, fingerprint: 'a' }))).status).toBe('NOT ACTIVATED');
    expect((await activate(opts(key, { fingerprint: 'a' }))).status).toBe('ACTIVATED');
    await refused(heartbeat(opts(key, { url, fingerprint: 'a' })), /does not verify/);
  });

  it('an unsigned fake server, and one that signs with its own key', async () => {
    const unsigned = await stands.listen((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ status: 'ACTIVATED', pass: true, details: 'Machine activated', machine: null }));
    });
    await refused(activate(opts('k', { url: unsigned, fingerprint: 'a' })), /not signed/);
    const own = await stands.listen(fakeSigner(generateKeyPairSync('ed25519').privateKey));
    await refused(validate(opts('k', { url: own, fingerprint: 'a' })), /does not verify/);
  });

  it('a wrong public key', async () => {
    const { key } = await issue(policies.seats2);
    const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    await refused(validate(opts(key, { publicKey: other, fingerprint: 'a' })), /does not verify/);
  });
});

describe('rate limited', () => {
  it('a genuine 429 on a client endpoint is signed over the request and returned, not thrown', async () => {
    const braked = await startTestServer(await createSqlite(), { CHECK_FAIL_LIMIT: '2' });
    try {
      const { pem: braKey } = await (await fetch(`${braked.url}/api/public-key`)).json();
      const call = (key: string) => validate({ url: braked.url, productId: 8, key, publicKey: braKey, fingerprint: 'a' });
      await braked.issue([8]);
      expect((await call('guess-1')).status).toBe('NOT FOUND');
      expect((await call('guess-2')).status).toBe('NOT FOUND');
      expect(await call('guess-3')).toMatchObject({ status: 'RATE LIMITED', pass: false, httpStatus: 429, machine: null, license: null });
    } finally {
      await braked.close();
      await braked.db.cleanup();
    }
  });
});
