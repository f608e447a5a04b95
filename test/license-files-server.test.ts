import { beforeAll, expect, it } from 'vitest';
import { request } from './helpers/http.js';
import { licenseFileVerifiers, requireLicenseFileVerifiers, runLicenseFileVerifiers, tamper, type LicenseFileOutcome } from './helpers/license-file-verifiers.js';
import { clientCall, ensureProducts, issueFrom, issueLicense, makePolicy } from './helpers/machines.js';
import { eachDialect } from './helpers/suite.js';

/**
 * Files the real server issues, through the client endpoint and the staff service, read by the
 * three verifiers of docs/license-files.md (keyward/client, PHP, Python) against the real
 * GET /api/public-key: genuine ones accepted with the license as issued; tampered ones (a flipped
 * byte in `enc` or `sig`, a swapped `kid`), another machine's, another key's refused by each.
 */

requireLicenseFileVerifiers();

const all = (outcome: LicenseFileOutcome) => Object.fromEntries(licenseFileVerifiers().map((v) => [v, outcome]));
const refusedWith = (...codes: string[]) => all({ ok: false, code: expect.toSatisfy((c: string) => codes.includes(c)) } as unknown as LicenseFileOutcome);

eachDialect('license files from the server, read by every verifier', (server) => {
  beforeAll(async () => {
    await ensureProducts(server(), [8, 9]);
  });
  const publicKeys = async () => (await request(server().url, { method: 'GET', path: '/api/public-key' })).json;

  it('an unbound file for a plain license, both algs: accepted as issued; tampered copies refused', async () => {
    const { id, key } = await issueLicense(server(), { productIds: [8, 9], key: 'KW-PLAIN-0000-1111-2222', entitlements: ['export'], maxUses: 50 });
    const keys = await publicKeys();
    for (const alg of ['aes-256-gcm+ed25519', 'base64+ed25519']) {
      const res = await clientCall(server().url, 'file', key, { productId: 8, alg, ttlSeconds: 7200 });
      expect(res.json).toMatchObject({ status: 'ISSUED', pass: true });
      const text = res.json.file as string;
      const outcomes = await runLicenseFileVerifiers({ text, publicKeys: keys, licenseKey: key });
      const payload = { license: { id, productIds: [8, 9], entitlements: ['export'], expiresAt: null, maxMachines: null, maxUses: 50 }, machine: null };
      expect(outcomes).toEqual(all({ ok: true, payload: expect.objectContaining(payload) }));
      const p = (outcomes.node as { payload: { issuedAt: string; expiresAt: string } }).payload;
      expect(Date.parse(p.expiresAt) - Date.parse(p.issuedAt)).toBe(7200_000);
      expect(await runLicenseFileVerifiers({ text: tamper.enc(text), publicKeys: keys, licenseKey: key })).toEqual(refusedWith('bad_signature'));
      expect(await runLicenseFileVerifiers({ text: tamper.sig(text), publicKeys: keys, licenseKey: key })).toEqual(refusedWith('bad_signature'));
      expect(await runLicenseFileVerifiers({ text: tamper.kid(text, 'kw20990101-00000000'), publicKeys: keys, licenseKey: key })).toEqual(refusedWith('unknown_key'));
    }
  });

  it('a machine-bound file: only that machine opens it; a swapped kid of a listed key fails the signature; rotation keeps it valid', async () => {
    const policy = await makePolicy(server(), [8], { maxMachines: 2, entitlements: ['pro'] });
    const { key } = await issueFrom(server(), policy.id);
    expect((await clientCall(server().url, 'activate', key, { productId: 8, fingerprint: 'plant-a' })).json.status).toBe('ACTIVATED');
    const text = (await clientCall(server().url, 'file', key, { productId: 8, fingerprint: 'plant-a' })).json.file as string;
    const before = await publicKeys();
    expect(await runLicenseFileVerifiers({ text, publicKeys: before, licenseKey: key, fingerprint: 'plant-a' })).toEqual(
      all({ ok: true, payload: expect.objectContaining({ machine: { fingerprint: 'plant-a' } }) }),
    );
    // Another machine, another key: the AES key differs, the file does not open.
    expect(await runLicenseFileVerifiers({ text, publicKeys: before, licenseKey: key, fingerprint: 'plant-b' })).toEqual(refusedWith('wrong_key', 'wrong_fingerprint'));
    expect(await runLicenseFileVerifiers({ text, publicKeys: before, licenseKey: `${key}x`, fingerprint: 'plant-a' })).toEqual(refusedWith('wrong_key'));
    // Rotation: the file's key is retired but listed, so the file stays valid; naming the new key fails.
    const after = await server().services.signingKeys.rotate('test');
    expect(await runLicenseFileVerifiers({ text, publicKeys: after, licenseKey: key, fingerprint: 'plant-a' })).toEqual(all({ ok: true, payload: expect.anything() }));
    expect(await runLicenseFileVerifiers({ text: tamper.kid(text, after.keyId), publicKeys: after, licenseKey: key, fingerprint: 'plant-a' })).toEqual(refusedWith('bad_signature'));
  });

  it('staff files (the service the API, CLI and dashboard use) verify too', async () => {
    const { id, key } = await issueLicense(server(), { productIds: [8], key: 'KW-STAFF-0000-1111-2222' });
    const { file } = await server().services.licenseFiles.issueForStaff(id, { alg: 'aes-256-gcm+ed25519', ttlSeconds: 3600 }, 'test');
    expect(await runLicenseFileVerifiers({ text: file, publicKeys: await publicKeys(), licenseKey: key })).toEqual(all({ ok: true, payload: expect.anything() }));
  });
});
