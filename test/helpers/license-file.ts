import { createDecipheriv, createHash, createPublicKey, verify } from 'node:crypto';
import { expect } from 'vitest';
import { request } from './http.js';

/** A license file's envelope: the base64 JSON between its armour lines. */
export interface Envelope {
  alg: string;
  kid: string;
  enc: string;
  sig: string;
}

const BEGIN = '-----BEGIN KEYWARD LICENSE FILE-----';
const END = '-----END KEYWARD LICENSE FILE-----';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Standard, padded base64 (what the format says), decoded; anything else fails the test. */
function base64(text: string, what: string): Buffer {
  expect(text, what).toMatch(BASE64);
  const bytes = Buffer.from(text, 'base64');
  expect(bytes.toString('base64'), `${what} is standard padded base64`).toBe(text);
  return bytes;
}

/**
 * The envelope of a license file, written here from the format (docs/license-files.md), not
 * from the server's encoder: armour lines, base64 in lines of 64 characters, JSON inside.
 */
export function envelopeOf(file: string): Envelope {
  const lines = file.split('\n');
  expect(lines[0]).toBe(BEGIN);
  expect(lines.at(-1)).toBe('');
  expect(lines.at(-2)).toBe(END);
  const body = lines.slice(1, -2);
  expect(body.length).toBeGreaterThan(0);
  body.forEach((line, i) => (i < body.length - 1 ? expect(line).toHaveLength(64) : expect(line.length).toBeLessThanOrEqual(64)));
  const envelope = JSON.parse(base64(body.join(''), 'the armoured body').toString('utf8'));
  expect(Object.keys(envelope).sort()).toEqual(['alg', 'enc', 'kid', 'sig']);
  return envelope;
}

/** The PEM of each answer-signing key the server publishes (GET /api/public-key), by id. */
export async function publishedKeys(url: string): Promise<Map<string, string>> {
  const res = await request(url, { method: 'GET', path: '/api/public-key' });
  expect(res.status).toBe(200);
  return new Map(res.json.keys.map((k: { id: string; pem: string }) => [k.id, k.pem]));
}

/** Whether `sig` is the Ed25519 signature of `keyward-license-v1/` + `enc` by this PEM key. */
export function signatureValid(envelope: Envelope, pem: string): boolean {
  return verify(null, Buffer.from(`keyward-license-v1/${envelope.enc}`, 'utf8'), createPublicKey(pem), base64(envelope.sig, 'sig'));
}

/** The payload: base64 JSON, or AES-256-GCM under SHA-256 of the key (and `\n` + fingerprint when machine-bound). */
export function payloadOf(envelope: Envelope, licenseKey: string, fingerprint: string | null = null): any {
  if (envelope.alg === 'base64+ed25519') return JSON.parse(base64(envelope.enc, 'enc').toString('utf8'));
  expect(envelope.alg).toBe('aes-256-gcm+ed25519');
  const parts = envelope.enc.split('.');
  expect(parts).toHaveLength(3);
  const [ciphertext, iv, tag] = parts.map((p, i) => base64(p, `enc part ${i}`)) as [Buffer, Buffer, Buffer];
  expect(iv).toHaveLength(12);
  const key = createHash('sha256').update(fingerprint === null ? licenseKey : `${licenseKey}\n${fingerprint}`, 'utf8').digest();
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAuthTag(tag);
  return JSON.parse(Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8'));
}

/** Checks a file end to end as a product would (armour, a published key's signature, the payload) and returns its payload. */
export async function openLicenseFile(url: string, file: string, licenseKey: string, fingerprint: string | null = null): Promise<{ envelope: Envelope; payload: any }> {
  const envelope = envelopeOf(file);
  const pem = (await publishedKeys(url)).get(envelope.kid);
  expect(pem, `kid ${envelope.kid} is published`).toBeDefined();
  expect(signatureValid(envelope, pem!)).toBe(true);
  // The signature covers enc: one changed character of it fails.
  const flipped = envelope.enc.startsWith('A') ? `B${envelope.enc.slice(1)}` : `A${envelope.enc.slice(1)}`;
  expect(signatureValid({ ...envelope, enc: flipped }, pem!)).toBe(false);
  return { envelope, payload: payloadOf(envelope, licenseKey, fingerprint) };
}

/** The signing keys GET /api/public-key lists. */
export interface ListedKey {
  id: string;
  pem: string;
}

/** A file read by `readLicenseFile`: its envelope, whether its signature verifies, and its payload. */
export interface OpenedLicenseFile extends Envelope {
  /** The signature verifies over `keyward-license-v1/` + enc with the listed key `kid` names. */
  signed: boolean;
  payload: {
    license: { id: number; productIds: number[]; entitlements: string[]; expiresAt: string | null; maxMachines: number | null; maxUses: number | null };
    machine: { fingerprint: string } | null;
    issuedAt: string;
    expiresAt: string;
  };
}

/** Reads a file with keys already fetched (no assertion on the signature: `signed` says); throws when the payload does not open. */
export function readLicenseFile(text: string, keys: readonly ListedKey[], licenseKey: string, fingerprint: string | null): OpenedLicenseFile {
  const envelope = envelopeOf(text);
  const key = keys.find((k) => k.id === envelope.kid);
  return { ...envelope, signed: key !== undefined && signatureValid(envelope, key.pem), payload: payloadOf(envelope, licenseKey, fingerprint) };
}
