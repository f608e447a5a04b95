import { createDecipheriv, createHash, generateKeyPairSync, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyLicenseFile } from '../client/index.js';
import { encodeLicenseFile, fileKey, LICENSE_FILE_ALGS, type LicenseFilePayload } from './license-file.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const key = { id: 'kw20260101-0badf00d', privateKey };
const publicKeys = { [key.id]: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
const licenseKey = 'KW-TEST-1234-5678';
const now = Date.parse('2026-06-01T12:00:00.000Z');

function payload(fingerprint: string | null): LicenseFilePayload {
  return {
    license: { id: 7, productIds: [8, 16], entitlements: ['pro', 'export'], expiresAt: null, maxMachines: 3, maxUses: null },
    machine: fingerprint === null ? null : { fingerprint },
    issuedAt: new Date(now - 60_000).toISOString(),
    expiresAt: new Date(now + 30 * 86_400_000).toISOString(),
  };
}

/** The armour's base64 and the JSON it holds. */
function fields(text: string): { lines: string[]; json: { alg: string; kid: string; enc: string; sig: string } } {
  const lines = text.split('\n');
  const body = lines.slice(1, lines.indexOf('-----END KEYWARD LICENSE FILE-----'));
  return { lines, json: JSON.parse(Buffer.from(body.join(''), 'base64').toString('utf8')) };
}

describe('encodeLicenseFile', () => {
  it.each(LICENSE_FILE_ALGS)('%s: the armour has lines of exactly 64 characters but the last, and ends with a newline', (alg) => {
    const text = encodeLicenseFile(payload(null), { alg, licenseKey, fingerprint: null, key });
    const { lines, json } = fields(text);
    expect(lines[0]).toBe('-----BEGIN KEYWARD LICENSE FILE-----');
    expect(lines.at(-2)).toBe('-----END KEYWARD LICENSE FILE-----');
    expect(lines.at(-1)).toBe('');
    const body = lines.slice(1, -2);
    expect(body.length).toBeGreaterThan(2);
    for (const line of body.slice(0, -1)) expect(line).toHaveLength(64);
    expect(body.at(-1)!.length).toBeGreaterThan(0);
    expect(body.at(-1)!.length).toBeLessThanOrEqual(64);
    expect(Object.keys(json)).toEqual(['alg', 'kid', 'enc', 'sig']);
    expect(json).toMatchObject({ alg, kid: key.id });
  });

  it.each([null, 'box-1'])('both algs round-trip through keyward/client (fingerprint %s)', (fingerprint) => {
    for (const alg of LICENSE_FILE_ALGS) {
      const text = encodeLicenseFile(payload(fingerprint), { alg, licenseKey, fingerprint, key });
      expect(verifyLicenseFile(text, { publicKeys, licenseKey, fingerprint: fingerprint ?? undefined, now })).toEqual(payload(fingerprint));
    }
  });

  it('signs the UTF-8 text keyward-license-v1/ + enc, with the key named by kid', () => {
    for (const alg of LICENSE_FILE_ALGS) {
      const { json } = fields(encodeLicenseFile(payload(null), { alg, licenseKey, fingerprint: null, key }));
      const sig = Buffer.from(json.sig, 'base64');
      expect(sig).toHaveLength(64);
      expect(verify(null, Buffer.from(`keyward-license-v1/${json.enc}`, 'utf8'), publicKey, sig)).toBe(true);
      expect(verify(null, Buffer.from(json.enc, 'utf8'), publicKey, sig)).toBe(false);
    }
  });

  it('base64+ed25519: enc is the base64 of the UTF-8 JSON payload', () => {
    const { json } = fields(encodeLicenseFile(payload('box-é'), { alg: 'base64+ed25519', licenseKey, fingerprint: 'box-é', key }));
    expect(json.enc).toBe(Buffer.from(JSON.stringify(payload('box-é')), 'utf8').toString('base64'));
  });

  it('aes-256-gcm+ed25519: ciphertext.iv.tag under SHA-256 of the key (and "\\n" fingerprint), a fresh 12-byte IV, no AAD', () => {
    for (const fingerprint of [null, 'box-1']) {
      const secret = fingerprint === null ? licenseKey : `${licenseKey}\n${fingerprint}`;
      expect(fileKey(licenseKey, fingerprint)).toEqual(createHash('sha256').update(secret, 'utf8').digest());
      const encode = () => fields(encodeLicenseFile(payload(fingerprint), { alg: 'aes-256-gcm+ed25519', licenseKey, fingerprint, key })).json.enc;
      const enc = encode();
      const [ciphertext, iv, tag] = enc.split('.').map((part) => Buffer.from(part, 'base64'));
      expect(iv).toHaveLength(12);
      expect(tag).toHaveLength(16);
      const decipher = createDecipheriv('aes-256-gcm', createHash('sha256').update(secret).digest(), iv!).setAuthTag(tag!);
      expect(JSON.parse(Buffer.concat([decipher.update(ciphertext!), decipher.final()]).toString('utf8'))).toEqual(payload(fingerprint));
      expect(encode().split('.')[1]).not.toBe(enc.split('.')[1]);
    }
  });

  it('refuses a fingerprint that is not the payload machine\'s', () => {
    expect(() => encodeLicenseFile(payload('box-1'), { alg: 'base64+ed25519', licenseKey, fingerprint: 'box-2', key })).toThrow(TypeError);
    expect(() => encodeLicenseFile(payload(null), { alg: 'base64+ed25519', licenseKey, fingerprint: 'box-1', key })).toThrow(TypeError);
    expect(() => encodeLicenseFile(payload('box-1'), { alg: 'base64+ed25519', licenseKey, fingerprint: null, key })).toThrow(TypeError);
  });
});
