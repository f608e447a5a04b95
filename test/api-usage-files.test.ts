import { beforeAll, describe, expect, it } from 'vitest';
import { apiClient, errorOf } from './helpers/api.js';
import { envelopeOf, openLicenseFile, payloadOf } from './helpers/license-file.js';
import { ensureProducts, makePolicy } from './helpers/machines.js';
import { ISO_TIME } from './helpers/patterns.js';
import { eachDialect } from './helpers/suite.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * Entitlements, metered usage and offline license files through /api/v1 (docs/api.md#usage,
 * #license-files), on both dialects: every route, every error, the scopes, the audit log, and
 * files that verify with the published key.
 */
eachDialect('management API: usage and license files', (server) => {
  let writer: string;
  let reader: string;
  const api = apiClient(server, () => writer);

  const audit = (action: string, licenseId: number) => server().services.logs.audit({ action, targetId: String(licenseId), limit: 100 });
  const uses = async (licenseId: number) => (await server().services.usage.get(licenseId)).uses;
  /** A 400 invalid_input naming `field`. */
  const refused = async (method: string, path: string, body: unknown, field: string) => {
    const res = await api.call(method, path, { body });
    expect(res.status, `${JSON.stringify(body)}: ${res.text}`).toBe(400);
    const error = errorOf(res);
    expect(error.code).toBe('invalid_input');
    expect(error.details.map((d: { field: string }) => d.field), JSON.stringify(body)).toContain(field);
    return error;
  };
  /** A license through the API, with its clear key. */
  const create = async (body: Record<string, unknown>) => {
    const res = await api.call('POST', '/licenses', { body });
    expect(res.status, res.text).toBe(201);
    return res.json;
  };

  beforeAll(async () => {
    writer = await api.token(['licenses:read', 'licenses:write'], 'metering-bot');
    reader = await api.token(['licenses:read'], 'read-only');
    await ensureProducts(server(), [8, 16]);
  });

  describe('license fields', () => {
    it('create takes entitlements (codes once each) and maxUses; show and list answer them with uses', async () => {
      const license = await create({ productIds: [8], entitlements: ['export', 'pro', 'export'], maxUses: 3 });
      expect(license).toMatchObject({ entitlements: ['export', 'pro'], uses: 0, maxUses: 3 });
      const shown = await api.call('GET', `/licenses/${license.id}`);
      expect(shown.json).toMatchObject({ entitlements: ['export', 'pro'], uses: 0, maxUses: 3 });
      const listed = (await api.call('GET', '/licenses?productId=8')).json.items.find((l: any) => l.id === license.id);
      expect(listed).toMatchObject({ entitlements: ['export', 'pro'], uses: 0, maxUses: 3 });
      const plain = await create({ productIds: [8] });
      expect(plain).toMatchObject({ entitlements: [], uses: 0, maxUses: null });
    });

    it('update replaces the codes and sets or clears the limit; the policy keeps its own', async () => {
      const policy = await makePolicy(server(), [8], { entitlements: ['pro'], maxUses: 5 });
      const license = await create({ policyId: policy.id, entitlements: ['export'] });
      expect(license).toMatchObject({ entitlements: ['export'], maxUses: null });
      // Its own codes and limit; the usage answer gives the limit in force.
      expect((await api.call('GET', `/licenses/${license.id}/usage`)).json).toEqual({ licenseId: license.id, uses: 0, maxUses: 5 });
      const changed = await api.call('PATCH', `/licenses/${license.id}`, { body: { entitlements: ['beta', 'export'], maxUses: 10 } });
      expect(changed.status, changed.text).toBe(200);
      expect(changed.json).toMatchObject({ entitlements: ['beta', 'export'], maxUses: 10 });
      expect((await api.call('GET', `/licenses/${license.id}/usage`)).json.maxUses).toBe(10);
      const cleared = await api.call('PATCH', `/licenses/${license.id}`, { body: { entitlements: [], maxUses: null } });
      expect(cleared.json).toMatchObject({ entitlements: [], maxUses: null });
      expect((await api.call('GET', `/licenses/${license.id}/usage`)).json.maxUses).toBe(5);
    });

    it('refuses bad codes and limits, naming the field', async () => {
      await refused('POST', '/licenses', { productIds: [8], entitlements: ['Pro'] }, 'entitlements[0]');
      await refused('POST', '/licenses', { productIds: [8], entitlements: 'pro' }, 'entitlements');
      await refused('POST', '/licenses', { productIds: [8], entitlements: Array.from({ length: 101 }, (_, i) => `c${i}`) }, 'entitlements');
      await refused('POST', '/licenses', { productIds: [8], maxUses: 0 }, 'maxUses');
      await refused('POST', '/licenses', { productIds: [8], maxUses: 1.5 }, 'maxUses');
      await refused('PATCH', '/licenses/1', { maxUses: -1 }, 'maxUses');
      await refused('PATCH', '/licenses/1', { entitlements: ['a b'] }, 'entitlements[0]');
      await refused('PATCH', '/licenses/1', { uses: 0 }, 'uses');
    });
  });

  describe('usage', () => {
    let metered: number;
    beforeAll(async () => {
      metered = (await create({ productIds: [8], maxUses: 3 })).id;
    });

    it('GET answers the counter and the limit', async () => {
      const res = await api.call('GET', `/licenses/${metered}/usage`);
      expect(res.status).toBe(200);
      expect(res.json).toEqual({ licenseId: metered, uses: 0, maxUses: 3 });
    });

    it('increments within the limit, refuses past it (409, nothing counted), decrements and resets; each change audited', async () => {
      const post = (body: unknown) => api.call('POST', `/licenses/${metered}/usage`, { body });
      expect((await post({ increment: 2 })).json).toEqual({ licenseId: metered, uses: 2, maxUses: 3 });
      const over = await post({ increment: 2 });
      expect(over.status).toBe(409);
      expect(errorOf(over)).toMatchObject({ code: 'usage_exceeded', message: expect.stringContaining('usage limit') });
      expect(await uses(metered)).toBe(2);
      expect((await post({ increment: 1 })).json).toEqual({ licenseId: metered, uses: 3, maxUses: 3 });
      expect((await post({ decrement: 1 })).json).toEqual({ licenseId: metered, uses: 2, maxUses: 3 });
      const below = await post({ decrement: 3 });
      expect(below.status).toBe(400);
      expect(errorOf(below)).toMatchObject({ code: 'invalid_input', message: expect.stringContaining('below 0') });
      expect(await uses(metered)).toBe(2);
      const reset = await post({ reset: true });
      expect(reset.status).toBe(200);
      expect(reset.json).toEqual({ licenseId: metered, uses: 0, maxUses: 3 });
      expect((await api.call('GET', `/licenses/${metered}/usage`)).json.uses).toBe(0);

      const entries = [
        ...(await audit('license.usage_incremented', metered)),
        ...(await audit('license.usage_decremented', metered)),
        ...(await audit('license.usage_reset', metered)),
      ].sort((a, b) => a.id - b.id);
      expect(entries.map((e) => [e.action, e.actor, e.before, e.after])).toEqual([
        ['license.usage_incremented', 'token:metering-bot', { uses: 0 }, { uses: 2 }],
        ['license.usage_incremented', 'token:metering-bot', { uses: 2 }, { uses: 3 }],
        ['license.usage_decremented', 'token:metering-bot', { uses: 3 }, { uses: 2 }],
        ['license.usage_reset', 'token:metering-bot', { uses: 2 }, { uses: 0 }],
      ]);
    });

    it('a license that is not metered counts without a limit', async () => {
      const open = (await create({ productIds: [8] })).id;
      const res = await api.call('POST', `/licenses/${open}/usage`, { body: { increment: 1_000_000 } });
      expect(res.json).toEqual({ licenseId: open, uses: 1_000_000, maxUses: null });
      expect((await api.call('POST', `/licenses/${open}/usage`, { body: { increment: 1_000_000 } })).json.uses).toBe(2_000_000);
    });

    it('refuses anything but exactly one whole-number action (400, nothing counted)', async () => {
      const path = `/licenses/${metered}/usage`;
      await api.call('POST', path, { body: { increment: 1 } });
      const one = 'must hold exactly one of increment, decrement or reset';
      expect((await refused('POST', path, {}, 'body')).message).toBe(`invalid body: body ${one}`);
      expect((await refused('POST', path, { increment: 1, decrement: 1 }, 'body')).message).toBe(`invalid body: body ${one}`);
      await refused('POST', path, { increment: 1, reset: true }, 'body');
      await refused('POST', path, { increment: 0 }, 'increment');
      await refused('POST', path, { increment: 1_000_001 }, 'increment');
      await refused('POST', path, { increment: 1.5 }, 'increment');
      await refused('POST', path, { increment: '1' }, 'increment');
      await refused('POST', path, { decrement: -1 }, 'decrement');
      expect((await refused('POST', path, { reset: false }, 'reset')).message).toBe('invalid body: reset must be true');
      await refused('POST', path, { set: 0 }, 'set');
      await refused('POST', path, undefined, 'body');
      await refused('POST', '/licenses/abc/usage', { increment: 1 }, 'id');
      await refused('GET', '/licenses/0/usage', undefined, 'id');
      expect(await uses(metered)).toBe(1);
    });

    it('an unknown license is 404 license_not_found', async () => {
      for (const [method, body] of [['GET', undefined], ['POST', { increment: 1 }], ['POST', { reset: true }]] as const) {
        const res = await api.call(method, '/licenses/999999/usage', { body });
        expect(res.status).toBe(404);
        expect(errorOf(res)).toEqual({ code: 'license_not_found', message: 'license 999999 does not exist' });
      }
    });

    it('an Idempotency-Key makes a retried increment count once', async () => {
      const headers = { 'idempotency-key': 'meter-run-1' };
      const before = await uses(metered);
      const a = await api.call('POST', `/licenses/${metered}/usage`, { body: { increment: 1 }, headers });
      const b = await api.call('POST', `/licenses/${metered}/usage`, { body: { increment: 1 }, headers });
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(b.headers['idempotent-replayed']).toBe('true');
      expect(b.json).toEqual(a.json);
      expect(await uses(metered)).toBe(before + 1);
      const other = await api.call('POST', `/licenses/${metered}/usage`, { body: { increment: 2 }, headers });
      expect(errorOf(other).code).toBe('idempotency_key_reused');
    });

    it('a read-only token reads the counter but cannot change it; a write-only one cannot read it', async () => {
      const before = await uses(metered);
      const auditBefore = (await audit('license.usage_reset', metered)).length;
      expect((await api.call('GET', `/licenses/${metered}/usage`, { token: reader })).json.uses).toBe(before);
      for (const body of [{ reset: true }, { increment: 1 }, { decrement: 1 }]) {
        const res = await api.call('POST', `/licenses/${metered}/usage`, { token: reader, body });
        expect(res.status).toBe(403);
        expect(errorOf(res)).toMatchObject({ code: 'forbidden', details: { requiredScope: 'licenses:write' } });
      }
      expect(await uses(metered)).toBe(before);
      expect(await audit('license.usage_reset', metered)).toHaveLength(auditBefore);
      const writeOnly = await api.token(['licenses:write']);
      expect((await api.call('GET', `/licenses/${metered}/usage`, { token: writeOnly })).status).toBe(403);
    });
  });

  describe('license files', () => {
    let plain: { id: number; key: string; expiresAt: string; productIds: number[] };
    let policyId: number;

    beforeAll(async () => {
      // Expires in 10 days: sooner than a file's default 30.
      const expiresAt = new Date(Date.now() + 10 * DAY_MS).toISOString();
      policyId = (await makePolicy(server(), [8, 16], { entitlements: ['pro'], maxUses: 50 })).id;
      plain = await create({ policyId, productIds: [16, 8], entitlements: ['export'], expiresAt });
    });

    it('issues an encrypted file by default: armour, signature by a published key, payload per the format; never past the license', async () => {
      const before = Date.now();
      const res = await api.call('POST', `/licenses/${plain.id}/file`, { body: {} });
      expect(res.status, res.text).toBe(200);
      expect(Object.keys(res.json).sort()).toEqual(['expiresAt', 'file']);
      expect(res.json.expiresAt).toBe(plain.expiresAt);
      const { envelope, payload } = await openLicenseFile(server().url, res.json.file, plain.key);
      expect(envelope.alg).toBe('aes-256-gcm+ed25519');
      expect(payload).toEqual({
        license: { id: plain.id, productIds: [16, 8], entitlements: ['pro', 'export'], expiresAt: plain.expiresAt, maxMachines: null, maxUses: 50 },
        machine: null,
        issuedAt: expect.stringMatching(ISO_TIME),
        expiresAt: plain.expiresAt,
      });
      expect(Date.parse(payload.issuedAt)).toBeGreaterThanOrEqual(before);
      expect(Date.parse(payload.issuedAt)).toBeLessThanOrEqual(Date.now());
      // Sealed: neither the payload nor the key is readable in the file.
      expect(Buffer.from(res.json.file.split('\n').slice(1, -2).join(''), 'base64').toString()).not.toContain('export');
      expect(res.text).not.toContain(plain.key);
    });

    it('base64+ed25519 with ttlSeconds: a signed, readable payload that ends after the TTL', async () => {
      const before = Date.now();
      const res = await api.call('POST', `/licenses/${plain.id}/file`, { body: { ttlSeconds: 3600, alg: 'base64+ed25519' } });
      expect(res.status, res.text).toBe(200);
      const { envelope, payload } = await openLicenseFile(server().url, res.json.file, plain.key);
      expect(envelope.alg).toBe('base64+ed25519');
      expect(payload.expiresAt).toBe(res.json.expiresAt);
      const ends = Date.parse(payload.expiresAt);
      expect(ends).toBeGreaterThanOrEqual(before + HOUR_MS);
      expect(ends).toBeLessThanOrEqual(Date.now() + HOUR_MS);
      expect(ends - Date.parse(payload.issuedAt)).toBe(HOUR_MS);
      expect(payload.license).toMatchObject({ id: plain.id, entitlements: ['pro', 'export'], expiresAt: plain.expiresAt, maxUses: 50 });
      // The longest TTL is still cut at the license's expiry; no body at all takes the defaults.
      const year = await api.call('POST', `/licenses/${plain.id}/file`, { body: { ttlSeconds: 31_536_000, alg: 'base64+ed25519' } });
      expect(year.json.expiresAt).toBe(plain.expiresAt);
      const bare = await api.call('POST', `/licenses/${plain.id}/file`);
      expect(bare.status, bare.text).toBe(200);
      expect(bare.json.expiresAt).toBe(plain.expiresAt);
    });

    it('a license without expiry gets the default 30 days', async () => {
      const forever = await create({ productIds: [8] });
      const before = Date.now();
      const res = await api.call('POST', `/licenses/${forever.id}/file`, { body: { alg: 'base64+ed25519' } });
      const { payload } = await openLicenseFile(server().url, res.json.file, forever.key);
      expect(payload.license.expiresAt).toBeNull();
      expect(Date.parse(payload.expiresAt) - Date.parse(payload.issuedAt)).toBe(30 * DAY_MS);
      expect(Date.parse(payload.issuedAt)).toBeGreaterThanOrEqual(before);
    });

    it('a license that tracks machines: bound to an active machine by fingerprint, which holds its slot until the file ends', async () => {
      const machinePolicy = (await makePolicy(server(), [8], { maxMachines: 2 })).id;
      const license = await create({ policyId: machinePolicy });
      const activated = await server().services.machines.activate(license.id, 'fp-one', { ip: '203.0.113.9' }, 'explicit');
      expect(activated?.status).toBe('ACTIVATED');

      const unnamed = await api.call('POST', `/licenses/${license.id}/file`, { body: {} });
      expect(unnamed.status).toBe(404);
      expect(errorOf(unnamed)).toMatchObject({ code: 'machine_not_found', message: expect.stringContaining('fingerprint') });
      const unknown = await api.call('POST', `/licenses/${license.id}/file`, { body: { fingerprint: 'fp-elsewhere' } });
      expect(unknown.status).toBe(404);
      expect(errorOf(unknown).code).toBe('machine_not_found');
      expect(unknown.text).not.toContain('fp-elsewhere');

      const bound = await api.call('POST', `/licenses/${license.id}/file`, { body: { fingerprint: 'fp-one', ttlSeconds: 7200 } });
      expect(bound.status, bound.text).toBe(200);
      const { payload } = await openLicenseFile(server().url, bound.json.file, license.key, 'fp-one');
      expect(payload.machine).toEqual({ fingerprint: 'fp-one' });
      expect(payload.license).toMatchObject({ id: license.id, maxMachines: 2, maxUses: null, entitlements: [] });
      // Encrypted for that machine: the key alone does not open it.
      expect(() => payloadOf(envelopeOf(bound.json.file), license.key)).toThrow(/unable to authenticate/);
      const plainFile = await api.call('POST', `/licenses/${license.id}/file`, { body: { fingerprint: 'fp-one', alg: 'base64+ed25519' } });
      expect((await openLicenseFile(server().url, plainFile.json.file, license.key)).payload.machine).toEqual({ fingerprint: 'fp-one' });

      const machines = (await api.call('GET', `/licenses/${license.id}/machines`)).json.items;
      expect(machines).toHaveLength(1);
      expect(Date.parse(machines[0].fileExpiresAt)).toBeGreaterThanOrEqual(Date.parse(plainFile.json.expiresAt));
    });

    it('IP-identity licenses and short keys get no file (409 file_not_allowed), and no audit entry', async () => {
      const ipPolicy = (await makePolicy(server(), [8], { maxMachines: 3, machineIdentity: 'ip' })).id;
      const byIp = await create({ policyId: ipPolicy });
      const short = await create({ productIds: [8], key: 'SHORT-KEY-0000001' });
      for (const id of [byIp.id, short.id]) {
        const res = await api.call('POST', `/licenses/${id}/file`, { body: {} });
        expect(res.status).toBe(409);
        expect(errorOf(res).code).toBe('file_not_allowed');
        expect(res.text).not.toContain('SHORT-KEY-0000001');
        expect(await audit('license.file_issued', id)).toEqual([]);
      }
    });

    it('refuses bad input (400 naming the field) and unknown licenses (404), issuing nothing', async () => {
      const issued = (await audit('license.file_issued', plain.id)).length;
      const path = `/licenses/${plain.id}/file`;
      await refused('POST', path, { ttlSeconds: 3599 }, 'ttlSeconds');
      await refused('POST', path, { ttlSeconds: 31_536_001 }, 'ttlSeconds');
      await refused('POST', path, { ttlSeconds: 7200.5 }, 'ttlSeconds');
      await refused('POST', path, { ttlSeconds: '7200' }, 'ttlSeconds');
      expect((await refused('POST', path, { alg: 'rsa' }, 'alg')).message).toContain('aes-256-gcm+ed25519');
      expect((await refused('POST', path, { fingerprint: '' }, 'fingerprint')).message).toBe('invalid body: fingerprint must be 1-255 printable ASCII characters');
      await refused('POST', path, { fingerprint: 'x'.repeat(256) }, 'fingerprint');
      await refused('POST', path, { fingerprint: 'tab\there' }, 'fingerprint');
      await refused('POST', path, { fingerprint: null }, 'fingerprint');
      await refused('POST', path, { machineId: 1 }, 'machineId');
      await refused('POST', path, [], 'body');
      await refused('POST', '/licenses/1.5/file', {}, 'id');
      expect(await audit('license.file_issued', plain.id)).toHaveLength(issued);
      const missing = await api.call('POST', '/licenses/999999/file', { body: {} });
      expect(missing.status).toBe(404);
      expect(errorOf(missing)).toEqual({ code: 'license_not_found', message: 'license 999999 does not exist' });
    });

    it('every file issued is audited under the token, without the file; an Idempotency-Key replays the same file', async () => {
      const license = await create({ productIds: [8] });
      const headers = { 'idempotency-key': 'file-for-order-7' };
      const a = await api.call('POST', `/licenses/${license.id}/file`, { body: { ttlSeconds: 86_400 }, headers });
      const b = await api.call('POST', `/licenses/${license.id}/file`, { body: { ttlSeconds: 86_400 }, headers });
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(b.headers['idempotent-replayed']).toBe('true');
      expect(b.json).toEqual(a.json);
      await api.call('POST', `/licenses/${license.id}/file`, { body: { alg: 'base64+ed25519' } });
      const entries = await audit('license.file_issued', license.id);
      expect(entries.map((e) => [e.actor, e.targetType, (e.after as any).alg])).toEqual([
        ['token:metering-bot', 'license', 'base64+ed25519'],
        ['token:metering-bot', 'license', 'aes-256-gcm+ed25519'],
      ]);
      expect((entries[1]!.after as any).expiresAt).toBe(a.json.expiresAt);
      expect(JSON.stringify(entries)).not.toContain(a.json.file.split('\n')[1]);
    });

    it('a read-only token cannot issue a file (a file is a credential)', async () => {
      const issued = (await audit('license.file_issued', plain.id)).length;
      const res = await api.call('POST', `/licenses/${plain.id}/file`, { token: reader, body: {} });
      expect(res.status).toBe(403);
      expect(errorOf(res)).toMatchObject({ code: 'forbidden', details: { requiredScope: 'licenses:write' } });
      expect(res.text).not.toContain('BEGIN KEYWARD');
      expect(await audit('license.file_issued', plain.id)).toHaveLength(issued);
    });
  });
});

