import { createPublicKey, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerMessage } from './helpers/answer-signature.js';
import { request } from './helpers/http.js';
import {
  checkCall,
  checkStatus,
  clientCall,
  DETAILS,
  ensureProducts,
  eventsOf,
  issueFrom,
  issueLicense,
  machineAnswer,
  machinesOf,
  makePolicy,
  metric,
  subscribe,
  timeUntil,
} from './helpers/machines.js';
import { ISO_TIME } from './helpers/patterns.js';
import { AUTHORISED, eachDialect } from './helpers/suite.js';
import { startReceiver, type Receiver } from './helpers/webhook-receiver.js';

/**
 * Machines on the check path (docs/check-api.md, docs/machines.md): the machine steps on all three
 * check endpoints, auto-activation and its webhook, IP identity, limits from the policy or the
 * license, live policy changes, first-use expiry, sightings written behind, Previous Auths and
 * metrics. X-Real-IP behind TRUST_PROXY=loopback stands for different callers.
 */
const ENV = { METRICS: 'on', TRUST_PROXY: 'loopback', WEBHOOK_POLL_MS: '50', WEBHOOK_RETRY_BASE_MS: '100' };
const DAY_MS = 86_400_000;
const V1_OK = { status: 'OK', pass: true, details: 'Authorisation completed!' };

/** How each check endpoint is asked about product 8 with a fingerprint, and what it answers. */
const ENDPOINTS = [
  {
    name: 'single (fingerprint in the query)',
    send: (url: string, key: string, fp?: string) => checkCall(url, `/api/check/8${fp === undefined ? '' : `?fingerprint=${fp}`}`, key),
    ok: AUTHORISED,
    refused: (s: Parameters<typeof machineAnswer>[0]) => machineAnswer(s),
  },
  {
    name: 'multiple (proIds and fingerprint in a JSON body)',
    send: (url: string, key: string, fp?: string) =>
      checkCall(url, '/api/check/multiple', key, { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ proIds: [9, 8], fingerprint: fp }) }),
    ok: { ...AUTHORISED, proId: 8 },
    refused: (s: Parameters<typeof machineAnswer>[0]) => machineAnswer(s, 8),
  },
  {
    name: 'V1 (fingerprint in a form body)',
    send: (url: string, key: string, fp?: string) =>
      checkCall(url, '/api/checkitem/8', key, { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: fp === undefined ? '' : `fingerprint=${fp}` }),
    ok: V1_OK,
    refused: (s: Parameters<typeof machineAnswer>[0]) => machineAnswer(s),
  },
];

eachDialect(
  'machines on the check path',
  (server) => {
    let receiver: Receiver;
    let twoMachines: { id: number };
    beforeAll(async () => {
      receiver = await startReceiver();
      await ensureProducts(server(), [8, 9]);
      await subscribe(server(), receiver);
      twoMachines = await makePolicy(server(), [8], { maxMachines: 2 });
    });
    afterAll(async () => receiver?.close());
    const url = () => server().url;

    describe.each(ENDPOINTS)('$name', ({ send, ok, refused }) => {
      it('a maxMachines 2 license: no fingerprint is refused, two machines auto-activate, a third is refused, known ones pass', async () => {
        const { id, key } = await issueFrom(server(), twoMachines.id);
        expect((await send(url(), key)).json).toEqual(refused('FINGERPRINT REQUIRED'));
        expect((await send(url(), key, 'fp-a')).json).toEqual(ok);
        expect((await send(url(), key, 'fp-b')).json).toEqual(ok);
        expect((await send(url(), key, 'fp-c')).json).toEqual(refused('TOO MANY MACHINES'));
        expect((await send(url(), key, 'fp-a')).json).toEqual(ok);
        expect((await send(url(), key, 'fp-b')).json).toEqual(ok);
        expect((await send(url(), key, 'fp-c')).json).toEqual(refused('TOO MANY MACHINES'));
        expect((await machinesOf(server(), id)).map((m) => m.fingerprint)).toEqual(['fp-a', 'fp-b']);

        await receiver.waitFor(() => eventsOf(receiver, 'machine.activated', id).length >= 2);
        await new Promise((r) => setTimeout(r, 200));
        const events = eventsOf(receiver, 'machine.activated', id);
        expect(events.map((e) => e.json.data.machine.fingerprint).sort()).toEqual(['fp-a', 'fp-b']);
        for (const e of events) {
          expect(Object.keys(e.json.data).sort()).toEqual(['by', 'license', 'machine']);
          expect(e.json.data.by).toBe('key');
          expect(e.json.data.license).toMatchObject({ id, productIds: [8], policyId: twoMachines.id });
          expect(e.json.data.license.key).toBeUndefined();
          expect(e.json.data.machine).toMatchObject({ licenseId: id, ip: '127.0.0.1', alive: true, createdAt: expect.stringMatching(ISO_TIME) });
        }
      });
    });

    it('autoActivate false: NOT ACTIVATED until /api/license/activate answers ACTIVATED, then AUTHORISED', async () => {
      const policy = await makePolicy(server(), [8], { maxMachines: 2, autoActivate: false });
      const { id, key } = await issueFrom(server(), policy.id);
      expect((await checkCall(url(), '/api/check/8?fingerprint=desk-1', key)).json).toEqual(machineAnswer('NOT ACTIVATED'));
      expect((await checkCall(url(), '/api/check/multiple?proIds=8&fingerprint=desk-1', key)).json).toEqual(machineAnswer('NOT ACTIVATED', 8));
      expect((await checkCall(url(), '/api/checkitem/8?fingerprint=desk-1', key)).json).toEqual(machineAnswer('NOT ACTIVATED'));
      expect(await machinesOf(server(), id)).toEqual([]);

      const activated = await clientCall(url(), 'activate', key, { productId: 8, fingerprint: 'desk-1' });
      expect(activated.json).toMatchObject({ status: 'ACTIVATED', pass: true, details: DETAILS.ACTIVATED, machine: { fingerprint: 'desk-1' } });
      expect((await checkCall(url(), '/api/check/8?fingerprint=desk-1', key)).json).toEqual(AUTHORISED);
      expect((await checkCall(url(), '/api/checkitem/8?fingerprint=desk-1', key)).json).toEqual(V1_OK);
      // Another machine still has to be activated first.
      expect(await checkStatus(url(), key, 'desk-2')).toBe('NOT ACTIVATED');
    });

    it("machineIdentity 'ip': each caller IP is a machine, no fingerprint needed; two IPs pass, a third is refused", async () => {
      const policy = await makePolicy(server(), [8], { maxMachines: 2, machineIdentity: 'ip' });
      const { id, key } = await issueFrom(server(), policy.id);
      expect(await checkStatus(url(), key, undefined, 8, { ip: '192.0.2.1' })).toBe('AUTHORISED');
      expect(await checkStatus(url(), key, undefined, 8, { ip: '192.0.2.2' })).toBe('AUTHORISED');
      expect((await checkCall(url(), '/api/check/8', key, { ip: '192.0.2.3' })).json).toEqual(machineAnswer('TOO MANY MACHINES'));
      // A fingerprint sent anyway does not make another machine of the same IP.
      expect(await checkStatus(url(), key, 'ignored', 8, { ip: '192.0.2.1' })).toBe('AUTHORISED');
      expect(await checkStatus(url(), key, undefined, 8, { ip: '192.0.2.2' })).toBe('AUTHORISED');
      expect((await machinesOf(server(), id)).map((m) => m.fingerprint)).toEqual(['192.0.2.1', '192.0.2.2']);
    });

    it("an IP-locked license with an empty list and 'ip' identity binds no first IP: each IP is a machine", async () => {
      const policy = await makePolicy(server(), [8], { maxMachines: 2, machineIdentity: 'ip' });
      const { id, key } = await issueFrom(server(), policy.id, { ipLocked: true });
      expect(await checkStatus(url(), key, undefined, 8, { ip: '198.51.100.1' })).toBe('AUTHORISED');
      expect(await checkStatus(url(), key, undefined, 8, { ip: '198.51.100.2' })).toBe('AUTHORISED');
      expect(await checkStatus(url(), key, undefined, 8, { ip: '198.51.100.3' })).toBe('TOO MANY MACHINES');
      await new Promise((r) => setTimeout(r, 300));
      expect((await server().services.licenses.show(id)).ips).toEqual([]);
      expect(await server().services.logs.audit({ action: 'license.ip_bound', targetId: String(id) })).toEqual([]);
      expect(await checkStatus(url(), key, undefined, 8, { ip: '198.51.100.2' })).toBe('AUTHORISED');
    });

    it("a license's own maxMachines overrides its policy's, up or down", async () => {
      const lower = await issueFrom(server(), twoMachines.id, { maxMachines: 1 });
      expect(await checkStatus(url(), lower.key, 'one')).toBe('AUTHORISED');
      expect(await checkStatus(url(), lower.key, 'two')).toBe('TOO MANY MACHINES');
      const higher = await issueFrom(server(), twoMachines.id, { maxMachines: 3 });
      for (const fp of ['one', 'two', 'three']) expect(await checkStatus(url(), higher.key, fp)).toBe('AUTHORISED');
      expect(await checkStatus(url(), higher.key, 'four')).toBe('TOO MANY MACHINES');
      // A null override inherits the policy's limit again.
      await server().services.licenses.update(lower.id, { maxMachines: null }, 'test');
      expect(await timeUntil(() => checkStatus(url(), lower.key, 'two'), 'AUTHORISED')).toBeLessThan(1000);
    });

    it('a license with maxMachines and no policy tracks machines (fingerprint identity, auto-activation)', async () => {
      const { id, key } = await issueLicense(server(), { productIds: [8], maxMachines: 2 });
      expect(await checkStatus(url(), key)).toBe('FINGERPRINT REQUIRED');
      expect(await checkStatus(url(), key, 'x')).toBe('AUTHORISED');
      expect(await checkStatus(url(), key, 'y')).toBe('AUTHORISED');
      expect(await checkStatus(url(), key, 'z')).toBe('TOO MANY MACHINES');
      expect((await machinesOf(server(), id)).map((m) => m.fingerprint)).toEqual(['x', 'y']);
    });

    it("lowering a policy's maxMachines: active machines keep working, new ones are refused until enough are freed", async () => {
      const policy = await makePolicy(server(), [8], { maxMachines: 3 });
      const { id, key } = await issueFrom(server(), policy.id);
      for (const fp of ['m1', 'm2', 'm3']) expect(await checkStatus(url(), key, fp)).toBe('AUTHORISED');
      await server().services.policies.update(policy.id, { maxMachines: 1 }, 'test');
      expect(await timeUntil(() => checkStatus(url(), key, 'm4'), 'TOO MANY MACHINES')).toBeLessThan(1000);
      for (const fp of ['m1', 'm2', 'm3']) expect(await checkStatus(url(), key, fp)).toBe('AUTHORISED');

      const machines = await machinesOf(server(), id);
      await server().services.machines.deactivateById(machines[0]!.id, 'staff:test');
      // Two active, limit one: still full.
      expect(await checkStatus(url(), key, 'm4')).toBe('TOO MANY MACHINES');
      await server().services.machines.deactivateById(machines[1]!.id, 'staff:test');
      // One active, limit one: still full.
      expect(await checkStatus(url(), key, 'm4')).toBe('TOO MANY MACHINES');
      expect(await checkStatus(url(), key, 'm3')).toBe('AUTHORISED');
      await server().services.machines.deactivateById(machines[2]!.id, 'staff:test');
      expect(await checkStatus(url(), key, 'm4')).toBe('AUTHORISED');
      expect(await checkStatus(url(), key, 'm1')).toBe('TOO MANY MACHINES');
    });

    it("a policy change reaches the checks of its licenses within 1 s", async () => {
      const policy = await makePolicy(server(), [8], { maxMachines: 1 });
      const { key } = await issueFrom(server(), policy.id);
      expect(await checkStatus(url(), key, 'first')).toBe('AUTHORISED');
      expect(await checkStatus(url(), key, 'second')).toBe('TOO MANY MACHINES');
      await server().services.policies.update(policy.id, { maxMachines: 2 }, 'test');
      expect(await timeUntil(() => checkStatus(url(), key, 'second'), 'AUTHORISED')).toBeLessThan(1000);
      await server().services.policies.update(policy.id, { autoActivate: false, maxMachines: 3 }, 'test');
      expect(await timeUntil(() => checkStatus(url(), key, 'third'), 'NOT ACTIVATED')).toBeLessThan(1000);
      await server().services.policies.update(policy.id, { machineIdentity: 'ip' }, 'test');
      // Now the caller's IP is the machine, and it is not activated (autoActivate is still off).
      expect(await timeUntil(() => checkStatus(url(), key), 'NOT ACTIVATED')).toBeLessThan(1000);
    });

    it('a plain license (no policy) answers byte for byte as before: v1 signature, no version header', async () => {
      const { key } = await issueLicense(server(), { productIds: [8] });
      const { pem } = (await request(url(), { method: 'GET', path: '/api/public-key' })).json;
      for (const path of ['/api/check/8', '/api/check/8?fingerprint=some-machine']) {
        const res = await checkCall(url(), path, key);
        expect(res.status).toBe(200);
        expect(res.text).toBe(JSON.stringify(AUTHORISED));
        expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(res.headers['x-keyward-signature-version']).toBeUndefined();
        const message = answerMessage('POST', path, res.headers['x-keyward-date'] as string, '', Buffer.from(res.text));
        expect(verify(null, message, createPublicKey(pem), Buffer.from(res.headers['x-keyward-signature'] as string, 'base64'))).toBe(true);
      }
      const multiple = await checkCall(url(), '/api/check/multiple?proIds=8', key);
      expect(multiple.text).toBe(JSON.stringify({ ...AUTHORISED, proId: 8 }));
      expect((await checkCall(url(), '/api/checkitem/8', key)).text).toBe(JSON.stringify(V1_OK));
    });

    it("regenerating the key frees every machine (machine.deactivated, by 'regenerated'), spending no allowance", async () => {
      const { id, key } = await issueFrom(server(), twoMachines.id);
      expect(await checkStatus(url(), key, 'r1')).toBe('AUTHORISED');
      expect(await checkStatus(url(), key, 'r2')).toBe('AUTHORISED');
      const { key: fresh } = await server().services.licenses.regenerate(id, 'staff:test');
      expect(await machinesOf(server(), id)).toEqual([]);
      const freed = await receiver.waitFor(() => eventsOf(receiver, 'machine.deactivated', id).length >= 2).then(() => eventsOf(receiver, 'machine.deactivated', id));
      expect(freed.map((e) => e.json.data.machine.fingerprint).sort()).toEqual(['r1', 'r2']);
      expect(freed.every((e) => e.json.data.by === 'regenerated')).toBe(true);
      expect(await server().services.machines.deactivationsLeft(id, 'key')).toBe(3);
      expect(await checkStatus(url(), key, 'r1')).toBe('NOT FOUND');
      expect(await checkStatus(url(), fresh, 'r3')).toBe('AUTHORISED');
      expect(await checkStatus(url(), fresh, 'r4')).toBe('AUTHORISED');
    });

    it('first-use expiry starts at the first AUTHORISED check; NOT FOUND and refused checks do not start it', async () => {
      const policy = await makePolicy(server(), [8], { durationDays: 30, expiryBasis: 'first-use', maxMachines: 1 });
      const { id, key } = await issueFrom(server(), policy.id);
      const expiresAt = async () => (await server().services.licenses.show(id)).expiresAt;
      expect(await expiresAt()).toBeNull();
      expect((await server().services.licenses.show(id)).firstUseDays).toBe(30);

      expect(await checkStatus(url(), key, 'fu-1', 9)).toBe('NOT FOUND');
      expect(await checkStatus(url(), key)).toBe('FINGERPRINT REQUIRED');
      await server().services.licenses.update(id, { disabled: true }, 'test');
      expect(await timeUntil(() => checkStatus(url(), key, 'fu-1'), 'KEY DISABLED')).toBeLessThan(1000);
      await server().services.licenses.update(id, { disabled: false }, 'test');
      expect(await expiresAt()).toBeNull();

      const before = Date.now();
      expect(await timeUntil(() => checkStatus(url(), key, 'fu-1'), 'AUTHORISED')).toBeLessThan(1000);
      const after = Date.now();
      // Written before the answer: the license shows it at once.
      const started = Date.parse((await expiresAt())!);
      expect(started).toBeGreaterThanOrEqual(before + 30 * DAY_MS);
      expect(started).toBeLessThanOrEqual(after + 30 * DAY_MS);
      expect((await server().services.licenses.show(id)).firstUseDays).toBeNull();
      // Later checks do not move it.
      expect(await checkStatus(url(), key, 'fu-1')).toBe('AUTHORISED');
      expect(Date.parse((await expiresAt())!)).toBe(started);
    });

    it('a refused machine (TOO MANY MACHINES) does not start a first-use clock', async () => {
      const policy = await makePolicy(server(), [8], { durationDays: 30, expiryBasis: 'first-use', maxMachines: 1, autoActivate: false });
      const { id, key } = await issueFrom(server(), policy.id);
      expect(await checkStatus(url(), key, 'nope')).toBe('NOT ACTIVATED');
      expect((await server().services.licenses.show(id)).expiresAt).toBeNull();
    });

    it("machine sightings are written behind: after checks and a flush, lastSeenAt and ip have moved", async () => {
      const { id, key } = await issueFrom(server(), twoMachines.id);
      expect(await checkStatus(url(), key, 'seen', 8, { ip: '203.0.113.10' })).toBe('AUTHORISED');
      const [created] = await machinesOf(server(), id);
      expect(created).toMatchObject({ fingerprint: 'seen', ip: '203.0.113.10' });
      await new Promise((r) => setTimeout(r, 30));
      const sent = Date.now();
      expect(await checkStatus(url(), key, 'seen', 8, { ip: '203.0.113.11' })).toBe('AUTHORISED');
      expect(await checkStatus(url(), key, 'seen', 8, { ip: '203.0.113.12' })).toBe('AUTHORISED');
      await server().flush();
      const [moved] = await machinesOf(server(), id);
      expect(moved!.ip).toBe('203.0.113.12');
      expect(Date.parse(moved!.lastSeenAt)).toBeGreaterThanOrEqual(sent);
      expect(Date.parse(moved!.lastSeenAt)).toBeGreaterThan(Date.parse(created!.lastSeenAt));
      expect(moved!.createdAt).toBe(created!.createdAt);
    });

    it("Previous Auths rows of client endpoint calls carry their endpoint; check rows carry null", async () => {
      const { id, key } = await issueFrom(server(), twoMachines.id);
      await checkStatus(url(), key, 'log-1');
      await checkCall(url(), '/api/checkitem/8?fingerprint=log-1', key);
      for (const op of ['validate', 'activate', 'heartbeat', 'deactivate'] as const) {
        expect((await clientCall(url(), op, key, { productId: 8, fingerprint: 'log-2' })).status).toBe(200);
      }
      await server().flush();
      const rows = await server().services.logs.checks({ licenseId: id });
      expect(rows.map((r) => [r.endpoint, r.status]).reverse()).toEqual([
        [null, 'AUTHORISED'],
        [null, 'AUTHORISED'],
        ['validate', 'AUTHORISED'],
        ['activate', 'ALREADY ACTIVATED'],
        ['heartbeat', 'ALIVE'],
        ['deactivate', 'DEACTIVATED'],
      ]);
    });

    it('metrics count machine activations and refusals by product', async () => {
      await ensureProducts(server(), [41, 42]);
      const limited = await makePolicy(server(), [41], { maxMachines: 1 });
      const manual = await makePolicy(server(), [42], { maxMachines: 1, autoActivate: false });
      const a = await issueFrom(server(), limited.id);
      const b = await issueFrom(server(), manual.id);
      expect(await checkStatus(url(), a.key, 'met-1', 41)).toBe('AUTHORISED');
      expect(await checkStatus(url(), a.key, 'met-1', 41)).toBe('AUTHORISED');
      expect(await checkStatus(url(), a.key, 'met-2', 41)).toBe('TOO MANY MACHINES');
      expect(await checkStatus(url(), a.key, 'met-3', 41)).toBe('TOO MANY MACHINES');
      expect(await checkStatus(url(), a.key, undefined, 41)).toBe('FINGERPRINT REQUIRED');
      expect(await checkStatus(url(), b.key, 'met-1', 42)).toBe('NOT ACTIVATED');
      expect((await clientCall(url(), 'activate', b.key, { productId: 42, fingerprint: 'met-1' })).json.status).toBe('ACTIVATED');
      expect((await clientCall(url(), 'activate', b.key, { productId: 42, fingerprint: 'met-2' })).json.status).toBe('TOO MANY MACHINES');

      expect(await metric(url(), 'keyward_machine_activations_total{product="41"}')).toBe(1);
      expect(await metric(url(), 'keyward_machine_activations_total{product="42"}')).toBe(1);
      expect(await metric(url(), 'keyward_machine_refusals_total{product="41",status="TOO MANY MACHINES"}')).toBe(2);
      expect(await metric(url(), 'keyward_machine_refusals_total{product="41",status="FINGERPRINT REQUIRED"}')).toBe(1);
      expect(await metric(url(), 'keyward_machine_refusals_total{product="42",status="NOT ACTIVATED"}')).toBe(1);
      expect(await metric(url(), 'keyward_machine_refusals_total{product="42",status="TOO MANY MACHINES"}')).toBe(1);
    });
  },
  ENV,
);
