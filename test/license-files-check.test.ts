import { createDecipheriv, createHash, createPublicKey, verify } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { HeartbeatSweep } from '../src/licensing/heartbeat-sweep.js';
import { request } from './helpers/http.js';
import { checkStatus, clientCall, ensureProducts, issueFrom, issueLicense, machinesOf, makePolicy, timeUntil } from './helpers/machines.js';
import { ISO_TIME } from './helpers/patterns.js';
import { eachDialect, PUBLIC_URL } from './helpers/suite.js';

/**
 * Offline license files through the client endpoint `/api/license/file` (docs/check-api.md): the
 * file read here with nothing but node:crypto, as a seller's product would (the armour, the
 * Ed25519 signature by a key GET /api/public-key lists, AES-256-GCM with a key derived from the
 * license key and the fingerprint); which licenses get one, its life, the values refused; and how a
 * machine-bound file holds its machine's slot until it ends.
 */
const ENV = { TRUST_PROXY: 'loopback' };
const DAY_S = 86_400;
const DEFAULT_TTL_S = 30 * DAY_S;
const tail = ` - ${PUBLIC_URL}`;
const ISSUED = { status: 'ISSUED', pass: true, details: `License file issued${tail}` };
const NOT_ALLOWED = {
  status: 'FILE NOT ALLOWED',
  pass: false,
  details: `This license key cannot have license files: keys identified by IP, and keys shorter than 20 characters, get none${tail}`,
  file: null,
};
const invalid = (details: string) => ({ status: 'INVALID INPUT', pass: false, details: `${details}${tail}`, machine: null, file: null });
const BAD_TTL = invalid('ttlSeconds must be a whole number from 3,600 to 31,536,000');
const BAD_ALG = invalid('alg must be one of aes-256-gcm+ed25519, base64+ed25519');

/** The armoured fields of a file (written out here: a changed format fails these tests). */
interface FileFields {
  alg: string;
  kid: string;
  enc: string;
  sig: string;
}

interface Payload {
  license: { id: number; productIds: number[]; entitlements: string[]; expiresAt: string | null; maxMachines: number | null; maxUses: number | null };
  machine: { fingerprint: string } | null;
  issuedAt: string;
  expiresAt: string;
}

/** The fields inside the armour: base64 of their JSON, in lines of 64 characters. */
function unarmour(file: string): FileFields {
  const lines = file.split('\n');
  expect(lines[0]).toBe('-----BEGIN KEYWARD LICENSE FILE-----');
  expect(lines.slice(-2)).toEqual(['-----END KEYWARD LICENSE FILE-----', '']);
  const body = lines.slice(1, -2);
  for (const line of body.slice(0, -1)) expect(line).toHaveLength(64);
  expect(body.at(-1)!.length).toBeLessThanOrEqual(64);
  const fields = JSON.parse(Buffer.from(body.join(''), 'base64').toString('utf8')) as FileFields;
  expect(Object.keys(fields)).toEqual(['alg', 'kid', 'enc', 'sig']);
  return fields;
}

/** The signature over `keyward-license-v1/` + enc verifies with this public key. */
const signedBy = (fields: FileFields, pem: string): boolean =>
  verify(null, Buffer.from(`keyward-license-v1/${fields.enc}`, 'utf8'), createPublicKey(pem), Buffer.from(fields.sig, 'base64'));

/** The payload: base64 as it is, or AES-256-GCM with SHA-256 of the key (and "\n" + fingerprint); throws when the key is wrong. */
function openFile(fields: FileFields, licenseKey: string, fingerprint: string | null): Payload {
  if (fields.alg === 'base64+ed25519') return JSON.parse(Buffer.from(fields.enc, 'base64').toString('utf8'));
  expect(fields.alg).toBe('aes-256-gcm+ed25519');
  const [ciphertext, iv, tag] = fields.enc.split('.').map((part) => Buffer.from(part, 'base64'));
  expect(iv).toHaveLength(12);
  const key = createHash('sha256').update(fingerprint === null ? licenseKey : `${licenseKey}\n${fingerprint}`, 'utf8').digest();
  const decipher = createDecipheriv('aes-256-gcm', key, iv!);
  decipher.setAuthTag(tag!);
  return JSON.parse(Buffer.concat([decipher.update(ciphertext!), decipher.final()]).toString('utf8'));
}

/** What GET /api/public-key lists. */
async function publicKeys(url: string): Promise<{ keyId: string; pem: string; keys: { id: string; pem: string; current: boolean; retiredAt: string | null }[] }> {
  return (await request(url, { method: 'GET', path: '/api/public-key' })).json;
}

/** How long a file lives, in seconds. */
const lifeOf = (payload: Payload) => (Date.parse(payload.expiresAt) - Date.parse(payload.issuedAt)) / 1000;

eachDialect(
  'license files: /api/license/file',
  (server) => {
    const url = () => server().url;
    const file = (key: string, body: Record<string, unknown> = {}) => clientCall(url(), 'file', key, { productId: 8, ...body });
    const activate = async (key: string, fingerprint: string) => (await clientCall(url(), 'activate', key, { productId: 8, fingerprint })).json.status;
    const deactivate = async (key: string, fingerprint: string) => (await clientCall(url(), 'deactivate', key, { productId: 8, fingerprint })).json.status;
    /** The license's total checks, Previous Auths rows and file audit entries, once every queued write is in. */
    const traces = async (id: number) => {
      await server().flush();
      return {
        total: (await server().services.licenses.show(id)).totalChecks,
        rows: (await server().services.logs.checks({ licenseId: id })).map((r) => [r.endpoint, r.status]),
        audit: (await server().services.logs.audit({ action: 'license.file_issued', targetId: String(id) })).length,
      };
    };
    let seats: { id: number };
    beforeAll(async () => {
      await ensureProducts(server(), [8]);
      seats = await makePolicy(server(), [8], { maxMachines: 1 });
    });

    describe('the file', () => {
      it('a license without machines: ISSUED, signed by the current listed key, encrypted with its key, the license as it stands', async () => {
        const policy = await makePolicy(server(), [8], { entitlements: ['pro'], maxUses: 50 });
        const { id, key } = await issueFrom(server(), policy.id, { entitlements: ['export'], expiresAt: '2999-01-01T00:00:00.000Z' });
        const before = Date.now();
        const res = await file(key);
        const after = Date.now();
        expect(res.json).toEqual({ ...ISSUED, machine: null, file: expect.any(String) });
        const fields = unarmour(res.json.file);
        const { keyId, pem } = await publicKeys(url());
        expect(fields).toMatchObject({ alg: 'aes-256-gcm+ed25519', kid: keyId });
        expect(signedBy(fields, pem)).toBe(true);
        const payload = openFile(fields, key, null);
        expect(payload).toEqual({
          license: { id, productIds: [8], entitlements: ['pro', 'export'], expiresAt: '2999-01-01T00:00:00.000Z', maxMachines: null, maxUses: 50 },
          machine: null,
          issuedAt: expect.stringMatching(ISO_TIME),
          expiresAt: expect.stringMatching(ISO_TIME),
        });
        expect(Date.parse(payload.issuedAt)).toBeGreaterThanOrEqual(before);
        expect(Date.parse(payload.issuedAt)).toBeLessThanOrEqual(after);
        expect(lifeOf(payload)).toBe(DEFAULT_TTL_S);

        // Only its key opens it; a changed byte breaks the signature.
        expect(() => openFile(fields, `${key}x`, null)).toThrow();
        expect(() => openFile(fields, key, 'some-machine')).toThrow();
        const tampered = { ...fields, enc: `${fields.enc.slice(0, 5)}${fields.enc[5] === 'A' ? 'B' : 'A'}${fields.enc.slice(6)}` };
        expect(signedBy(tampered, pem)).toBe(false);
        // Every file is a check, logged with its endpoint, and audited.
        expect(await traces(id)).toEqual({ total: 1, rows: [['file', 'ISSUED']], audit: 1 });
      });

      it("alg base64+ed25519: the payload readable by anyone, still signed", async () => {
        const { id, key } = await issueLicense(server(), { productIds: [8] });
        const res = await file(key, { alg: 'base64+ed25519', ttlSeconds: 3600 });
        expect(res.json).toMatchObject(ISSUED);
        const fields = unarmour(res.json.file);
        expect(fields.alg).toBe('base64+ed25519');
        expect(signedBy(fields, (await publicKeys(url())).pem)).toBe(true);
        const payload = openFile(fields, 'no key needed', null);
        expect(payload).toMatchObject({ license: { id, productIds: [8], entitlements: [], expiresAt: null, maxMachines: null, maxUses: null }, machine: null });
        expect(lifeOf(payload)).toBe(3600);
        expect(Buffer.from(fields.enc, 'base64').toString('base64')).toBe(fields.enc);
      });

      it('a license without machines and a fingerprint: the file is bound to it and opens only with it', async () => {
        const { key } = await issueLicense(server(), { productIds: [8] });
        for (const alg of ['aes-256-gcm+ed25519', 'base64+ed25519']) {
          const res = await file(key, { fingerprint: 'lab-pc', alg });
          expect(res.json).toMatchObject({ ...ISSUED, machine: null });
          const fields = unarmour(res.json.file);
          expect(openFile(fields, key, 'lab-pc').machine).toEqual({ fingerprint: 'lab-pc' });
          if (alg !== 'base64+ed25519') expect(() => openFile(fields, key, null)).toThrow();
        }
      });

      it('never outlives its license: a license ending in 2 hours gets a file ending with it', async () => {
        const ends = new Date(Math.floor(Date.now() / 1000) * 1000 + 2 * 3600_000).toISOString();
        const { key } = await issueLicense(server(), { productIds: [8], expiresAt: ends });
        expect(openFile(unarmour((await file(key)).json.file), key, null)).toMatchObject({ license: { expiresAt: ends }, expiresAt: ends });
        expect(openFile(unarmour((await file(key, { ttlSeconds: 31_536_000 })).json.file), key, null).expiresAt).toBe(ends);
        // A shorter life than the license's is kept.
        expect(lifeOf(openFile(unarmour((await file(key, { ttlSeconds: 3600 })).json.file), key, null))).toBe(3600);
      });

      it('the bounds of ttlSeconds are accepted: 3,600 and 31,536,000 seconds', async () => {
        const { key } = await issueLicense(server(), { productIds: [8] });
        for (const ttlSeconds of [3600, 31_536_000, '86400']) {
          expect(lifeOf(openFile(unarmour((await file(key, { ttlSeconds })).json.file), key, null))).toBe(Number(ttlSeconds));
        }
      });

      it('a first-use license: the file starts its clock and ends with it at the latest', async () => {
        const policy = await makePolicy(server(), [8], { durationDays: 1, expiryBasis: 'first-use' });
        const { id, key } = await issueFrom(server(), policy.id);
        const payload = openFile(unarmour((await file(key)).json.file), key, null);
        const started = (await server().services.licenses.show(id)).expiresAt;
        expect(started).not.toBeNull();
        expect(payload.license.expiresAt).toBe(started);
        expect(payload.expiresAt).toBe(started);
      });

      it('after a signing-key rotation, files signed before still verify with the old key, listed as retired', async () => {
        const { key } = await issueLicense(server(), { productIds: [8] });
        const old = unarmour((await file(key)).json.file);
        const before = await publicKeys(url());
        expect(old.kid).toBe(before.keyId);
        await server().services.signingKeys.rotate('staff:test');
        const fresh = unarmour((await file(key)).json.file);
        const after = await publicKeys(url());
        expect(fresh.kid).toBe(after.keyId);
        expect(fresh.kid).not.toBe(old.kid);
        const listed = (kid: string) => after.keys.find((k) => k.id === kid)!;
        expect(listed(old.kid)).toMatchObject({ current: false, retiredAt: expect.stringMatching(ISO_TIME) });
        expect(listed(fresh.kid)).toMatchObject({ current: true, retiredAt: null });
        expect(signedBy(old, listed(old.kid).pem)).toBe(true);
        expect(signedBy(old, listed(fresh.kid).pem)).toBe(false);
        expect(signedBy(fresh, listed(fresh.kid).pem)).toBe(true);
        expect(openFile(old, key, null).license).toEqual(openFile(fresh, key, null).license);
      });
    });

    describe('who gets one', () => {
      it('a license that tracks machines: only for an active machine’s fingerprint, bound to it; a file never activates one', async () => {
        const policy = await makePolicy(server(), [8], { maxMachines: 2 });
        const { id, key } = await issueFrom(server(), policy.id);
        expect((await file(key)).json).toMatchObject({ status: 'FINGERPRINT REQUIRED', pass: false, machine: null, file: null });
        // The policy activates machines by itself, but not through a file.
        expect((await file(key, { fingerprint: 'pc-1' })).json).toEqual({
          status: 'NOT ACTIVATED',
          pass: false,
          details: `This machine is not activated for this license key${tail}`,
          machine: null,
          file: null,
        });
        expect(await machinesOf(server(), id)).toEqual([]);

        expect(await activate(key, 'pc-1')).toBe('ACTIVATED');
        const res = await file(key, { fingerprint: 'pc-1' });
        expect(res.json).toMatchObject({ ...ISSUED, machine: { fingerprint: 'pc-1' } });
        const payload = openFile(unarmour(res.json.file), key, 'pc-1');
        expect(payload).toMatchObject({ license: { id, maxMachines: 2 }, machine: { fingerprint: 'pc-1' } });
        expect(() => openFile(unarmour(res.json.file), key, null)).toThrow();
        // The machine holds its slot until the file ends; a shorter file later does not shorten that.
        expect((await machinesOf(server(), id))[0]).toMatchObject({ fingerprint: 'pc-1', fileExpiresAt: payload.expiresAt, deactivatedAt: null });
        expect((await file(key, { fingerprint: 'pc-1', ttlSeconds: 3600 })).json.status).toBe('ISSUED');
        expect((await machinesOf(server(), id))[0]!.fileExpiresAt).toBe(payload.expiresAt);
        // Another machine, even with a slot free, is not activated by asking.
        expect((await file(key, { fingerprint: 'pc-2' })).json.status).toBe('NOT ACTIVATED');
        expect((await machinesOf(server(), id)).map((m) => m.fingerprint)).toEqual(['pc-1']);
      });

      it('FILE NOT ALLOWED: a license counting machines by IP, a key shorter than 20 characters; staff are told the same', async () => {
        const byIp = await issueFrom(server(), (await makePolicy(server(), [8], { maxMachines: 2, machineIdentity: 'ip' })).id);
        expect((await file(byIp.key)).json).toEqual({ ...NOT_ALLOWED, machine: null });
        expect(await machinesOf(server(), byIp.id)).toEqual([]);
        expect(await checkStatus(url(), byIp.key)).toBe('AUTHORISED');
        expect((await file(byIp.key)).json.status).toBe('FILE NOT ALLOWED');
        await expect(server().services.licenseFiles.issueForStaff(byIp.id, {}, 'staff:test')).rejects.toMatchObject({ code: 'file_not_allowed' });

        const short = await issueLicense(server(), { productIds: [8], key: 'k'.repeat(19) });
        expect((await file(short.key)).json).toEqual({ ...NOT_ALLOWED, machine: null });
        await expect(server().services.licenseFiles.issueForStaff(short.id, {}, 'staff:test')).rejects.toMatchObject({ code: 'file_not_allowed' });
        const twenty = await issueLicense(server(), { productIds: [8], key: 'k'.repeat(20) });
        expect(openFile(unarmour((await file(twenty.key)).json.file), 'k'.repeat(20), null).license.id).toBe(twenty.id);
        expect(await traces(short.id)).toEqual({ total: 1, rows: [['file', 'FILE NOT ALLOWED']], audit: 0 });
      });

      it.each([
        ['ttlSeconds 3599', { ttlSeconds: 3599 }, BAD_TTL],
        ['ttlSeconds 31536001', { ttlSeconds: 31_536_001 }, BAD_TTL],
        ['ttlSeconds "x"', { ttlSeconds: 'x' }, BAD_TTL],
        ['ttlSeconds 3600.5', { ttlSeconds: 3600.5 }, BAD_TTL],
        ['alg "rsa"', { alg: 'rsa' }, BAD_ALG],
        ['alg ""', { alg: '' }, BAD_ALG],
        ['alg in capitals', { alg: 'BASE64+ED25519' }, BAD_ALG],
      ])('%s: INVALID INPUT, nothing counted, logged or activated', async (_, body, answer) => {
        const { id, key } = await issueFrom(server(), seats.id);
        expect((await file(key, body)).json).toEqual(answer);
        expect((await file(key, { ...body, fingerprint: 'pc-1' })).json).toEqual(answer);
        expect(await machinesOf(server(), id)).toEqual([]);
        expect(await traces(id)).toEqual({ total: 0, rows: [], audit: 0 });
      });
    });

    describe('a machine-bound file holds its slot until it ends', () => {
      /** A license of one slot whose machine `held` has a file of `ttlSeconds` and was then freed by its key holder. */
      async function heldSlot(ttlSeconds: number) {
        const license = await issueFrom(server(), seats.id);
        expect(await activate(license.key, 'held')).toBe('ACTIVATED');
        expect((await file(license.key, { fingerprint: 'held', ttlSeconds })).json.status).toBe('ISSUED');
        expect(await deactivate(license.key, 'held')).toBe('DEACTIVATED');
        return license;
      }

      it('freed by its key holder: DEACTIVATED, yet another machine gets TOO MANY MACHINES; the same machine may come back', async () => {
        const { id, key } = await heldSlot(DEFAULT_TTL_S);
        const [held] = await machinesOf(server(), id);
        expect(held).toMatchObject({ fingerprint: 'held', alive: false, deactivatedAt: expect.stringMatching(ISO_TIME), fileExpiresAt: expect.stringMatching(ISO_TIME) });
        expect(await checkStatus(url(), key, 'other')).toBe('TOO MANY MACHINES');
        expect(await activate(key, 'other')).toBe('TOO MANY MACHINES');
        expect((await clientCall(url(), 'validate', key, { productId: 8, fingerprint: 'other' })).json).toMatchObject({ status: 'TOO MANY MACHINES', license: { machines: 1 } });
        // Freed already: nothing more for the key holder to free, and no file for it.
        expect(await deactivate(key, 'held')).toBe('NOT ACTIVATED');
        expect((await file(key, { fingerprint: 'held' })).json.status).toBe('NOT ACTIVATED');

        expect(await activate(key, 'held')).toBe('ACTIVATED');
        expect(await checkStatus(url(), key, 'held')).toBe('AUTHORISED');
        expect(await checkStatus(url(), key, 'other')).toBe('TOO MANY MACHINES');
        expect((await machinesOf(server(), id)).map((m) => [m.fingerprint, m.deactivatedAt, m.fileExpiresAt])).toEqual([['held', null, held!.fileExpiresAt]]);
      });

      it('staff free it at once, file or not', async () => {
        const { id, key } = await heldSlot(DEFAULT_TTL_S);
        const [held] = await machinesOf(server(), id);
        await server().services.machines.deactivateById(held!.id, 'staff:test');
        expect(await machinesOf(server(), id)).toEqual([]);
        expect(await timeUntil(() => activate(key, 'other'), 'ACTIVATED')).toBeLessThan(1000);

        // An active machine with a file, too.
        expect((await file(key, { fingerprint: 'other' })).json.status).toBe('ISSUED');
        await server().services.machines.deactivateById((await machinesOf(server(), id))[0]!.id, 'staff:test');
        expect(await timeUntil(() => activate(key, 'third'), 'ACTIVATED')).toBeLessThan(1000);
      });

      it('a short file: the sweep at a time past its end frees the slot; before it, nothing', async () => {
        const { id, key } = await heldSlot(3600);
        const [held] = await machinesOf(server(), id);
        const end = Date.parse(held!.fileExpiresAt!);
        const sweepAt = (now: number) => new HeartbeatSweep(server().services.machines, { now: () => now }).runOnce();
        await sweepAt(end - 1000);
        expect(await machinesOf(server(), id)).toHaveLength(1);
        expect(await checkStatus(url(), key, 'other')).toBe('TOO MANY MACHINES');
        expect(await sweepAt(end)).toBeGreaterThanOrEqual(1);
        expect(await machinesOf(server(), id)).toEqual([]);
        expect(await timeUntil(() => checkStatus(url(), key, 'other'), 'AUTHORISED')).toBeLessThan(1000);
      });

      it('a file whose end has passed (moved to the past in the database): releaseEndedHolds frees the slot', async () => {
        const { id, key } = await heldSlot(3600);
        const [held] = await machinesOf(server(), id);
        await server().internal.storage.db.updateTable('machines').set({ file_expires_at: Date.now() - 1000 }).where('id', '=', held!.id).execute();
        expect(await server().services.machines.releaseEndedHolds(Date.now(), 100)).toBeGreaterThanOrEqual(1);
        expect(await machinesOf(server(), id)).toEqual([]);
        expect(await timeUntil(() => activate(key, 'other'), 'ACTIVATED')).toBeLessThan(1000);
      });

      it('a machine dead by heartbeat is not swept while its file holds the slot, and is once the file ends', async () => {
        const policy = await makePolicy(server(), [8], { maxMachines: 1, heartbeatSeconds: 60 });
        const { id, key } = await issueFrom(server(), policy.id);
        // Activated and given a file two minutes ago (through the domain, at that time), not seen since.
        const then = Date.now() - 120_000;
        expect((await server().services.machines.activate(id, 'quiet', { ip: '127.0.0.1' }, 'explicit', then))?.status).toBe('ACTIVATED');
        const { expiresAt } = await server().services.licenseFiles.issueForStaff(id, { fingerprint: 'quiet', ttlSeconds: 3600 }, 'staff:test', then);
        expect(Date.parse(expiresAt)).toBe(then + 3600_000);

        expect(await server().services.machines.sweepDead(Date.now(), { limit: 100, graceMs: 0 })).toBe(0);
        expect((await machinesOf(server(), id)).map((m) => [m.fingerprint, m.alive])).toEqual([['quiet', false]]);
        expect(await checkStatus(url(), key, 'other')).toBe('TOO MANY MACHINES');

        const swept = await new HeartbeatSweep(server().services.machines, { now: () => then + 3600_000, graceMs: 0 }).runOnce();
        expect(swept).toBeGreaterThanOrEqual(1);
        expect(await machinesOf(server(), id)).toEqual([]);
        expect(await server().services.logs.audit({ action: 'machine.dead', targetId: String(id) })).toMatchObject([{ before: { fingerprint: 'quiet' }, after: { by: 'heartbeat' } }]);
        expect(await timeUntil(() => checkStatus(url(), key, 'other'), 'AUTHORISED')).toBeLessThan(1000);
      });
    });
  },
  ENV,
);
