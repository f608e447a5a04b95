/**
 * Offline license files (docs/license-files.md): a license's state, signed with the answer-signing
 * key so a product can trust it without reaching the server, and by default encrypted with the
 * license key (and the machine's fingerprint) so only its holder can read it. Pure: the caller
 * decides the payload, including the file's end (never past the license's own expiry).
 */
import { createCipheriv, createHash, randomBytes, sign } from 'node:crypto';
import type { LicenseFilePayload } from '../client/license-file.js';
import type { SigningKey } from './answer-signer.js';

/** The first is the default: the payload is readable only with the license key. */
export const LICENSE_FILE_ALGS = ['aes-256-gcm+ed25519', 'base64+ed25519'] as const;
export type LicenseFileAlg = (typeof LICENSE_FILE_ALGS)[number];

/** What a license file says: declared once, by the client library that reads it. */
export type { LicenseFilePayload };

/** The armoured JSON, in this order. */
export interface LicenseFileFields {
  alg: LicenseFileAlg;
  kid: string;
  enc: string;
  sig: string;
}

export interface LicenseFileOptions {
  alg: LicenseFileAlg;
  licenseKey: string;
  /** The machine the file is bound to, as in the payload; null for an unbound file. */
  fingerprint: string | null;
  /** The answer-signing key (its id becomes `kid`). */
  key: SigningKey;
}

export const LICENSE_FILE_BEGIN = '-----BEGIN KEYWARD LICENSE FILE-----';
export const LICENSE_FILE_END = '-----END KEYWARD LICENSE FILE-----';
/** Prefixed to `enc` before signing, so no other Keyward signature can pass for a file's. */
export const LICENSE_FILE_SIGNED_PREFIX = 'keyward-license-v1/';

/** The AES-256-GCM key: SHA-256 of the license key, or of key + "\n" + fingerprint for a bound file. */
export function fileKey(licenseKey: string, fingerprint: string | null): Buffer {
  return createHash('sha256')
    .update(fingerprint === null ? licenseKey : `${licenseKey}\n${fingerprint}`, 'utf8')
    .digest();
}

/** The armoured license file for `payload`, signed by `options.key`. */
export function encodeLicenseFile(payload: LicenseFilePayload, options: LicenseFileOptions): string {
  // A file encrypted for one machine but naming another (or none) would open on the wrong one.
  if ((payload.machine?.fingerprint ?? null) !== options.fingerprint) {
    throw new TypeError('fingerprint: must be the payload machine\'s fingerprint (null for an unbound file)');
  }
  const json = Buffer.from(JSON.stringify(payload), 'utf8');
  const enc = options.alg === 'base64+ed25519' ? json.toString('base64') : encrypt(json, fileKey(options.licenseKey, options.fingerprint));
  const sig = sign(null, Buffer.from(LICENSE_FILE_SIGNED_PREFIX + enc, 'utf8'), options.key.privateKey).toString('base64');
  return armourLicenseFile({ alg: options.alg, kid: options.key.id, enc, sig });
}

/** The fields as the file's text: base64 of their JSON in lines of 64 characters, between the markers. */
export function armourLicenseFile(fields: LicenseFileFields): string {
  const { alg, kid, enc, sig } = fields;
  const body = Buffer.from(JSON.stringify({ alg, kid, enc, sig }), 'utf8').toString('base64');
  return [LICENSE_FILE_BEGIN, ...(body.match(/.{1,64}/g) ?? []), LICENSE_FILE_END, ''].join('\n');
}

/** base64(ciphertext) "." base64(iv) "." base64(tag), with a fresh 12-byte IV and no AAD. */
function encrypt(plain: Buffer, key: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
  return [ciphertext, iv, cipher.getAuthTag()].map((part) => part.toString('base64')).join('.');
}
