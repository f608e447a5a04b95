// Interim encoder (the helper's license-file.ts replaces this file on merge).
import { createCipheriv, createHash, randomBytes, sign } from 'node:crypto';
import type { SigningKey } from './answer-signer.js';
export const LICENSE_FILE_ALGS = ['aes-256-gcm+ed25519', 'base64+ed25519'] as const;
export type LicenseFileAlg = (typeof LICENSE_FILE_ALGS)[number];
export interface LicenseFilePayload {
  license: { id: number; productIds: number[]; entitlements: string[]; expiresAt: string | null; maxMachines: number | null; maxUses: number | null };
  machine: { fingerprint: string } | null;
  issuedAt: string;
  expiresAt: string;
}
export function encodeLicenseFile(payload: LicenseFilePayload, o: { alg: LicenseFileAlg; licenseKey: string; fingerprint: string | null; key: SigningKey }): string {
  const json = Buffer.from(JSON.stringify(payload), 'utf8');
  let enc: string;
  if (o.alg === 'base64+ed25519') enc = json.toString('base64');
  else {
    const k = createHash('sha256').update(o.fingerprint === null ? o.licenseKey : `${o.licenseKey}\n${o.fingerprint}`, 'utf8').digest();
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', k, iv);
    const ct = Buffer.concat([c.update(json), c.final()]);
    enc = `${ct.toString('base64')}.${iv.toString('base64')}.${c.getAuthTag().toString('base64')}`;
  }
  const sig = sign(null, Buffer.from(`keyward-license-v1/${enc}`, 'utf8'), o.key.privateKey).toString('base64');
  const body = Buffer.from(JSON.stringify({ alg: o.alg, kid: o.key.id, enc, sig }), 'utf8').toString('base64');
  return `-----BEGIN KEYWARD LICENSE FILE-----\n${body.match(/.{1,64}/g)!.join('\n')}\n-----END KEYWARD LICENSE FILE-----\n`;
}
