import { createDecipheriv, createHash, createPublicKey, verify } from 'node:crypto';

/** The signing keys GET /api/public-key lists. */
export interface ListedKey {
  id: string;
  pem: string;
}

export interface OpenedLicenseFile {
  alg: string;
  kid: string;
  enc: string;
  sig: string;
  /** The signature verifies over `keyward-license-v1/` + enc with the listed key `kid` names. */
  signed: boolean;
  payload: {
    license: { id: number; productIds: number[]; entitlements: string[]; expiresAt: string | null; maxMachines: number | null; maxUses: number | null };
    machine: { fingerprint: string } | null;
    issuedAt: string;
    expiresAt: string;
  };
}

const ARMOUR = /^-----BEGIN KEYWARD LICENSE FILE-----\n((?:[A-Za-z0-9+/=]{1,64}\n)+)-----END KEYWARD LICENSE FILE-----\n$/;

/**
 * Reads a license file the way docs/license-files.md spells it, with node:crypto only: the armour
 * (base64 lines of at most 64 characters), the envelope, the Ed25519 signature by the key its
 * `kid` names, and the payload (AES-256-GCM under SHA-256 of the key, or of key "\n" fingerprint).
 * Throws when the armour or the payload does not open.
 */
export function openLicenseFile(text: string, keys: readonly ListedKey[], licenseKey: string, fingerprint: string | null): OpenedLicenseFile {
  const body = ARMOUR.exec(text)?.[1];
  if (!body) throw new Error('no license file armour');
  const envelope = JSON.parse(Buffer.from(body.replace(/\n/g, ''), 'base64').toString('utf8')) as Pick<OpenedLicenseFile, 'alg' | 'kid' | 'enc' | 'sig'>;
  const key = keys.find((k) => k.id === envelope.kid);
  const signed = key !== undefined && verify(null, Buffer.from(`keyward-license-v1/${envelope.enc}`, 'utf8'), createPublicKey(key.pem), Buffer.from(envelope.sig, 'base64'));
  let json: Buffer;
  if (envelope.alg === 'base64+ed25519') json = Buffer.from(envelope.enc, 'base64');
  else {
    const [ct, iv, tag] = envelope.enc.split('.').map((part) => Buffer.from(part, 'base64'));
    const secret = createHash('sha256').update(fingerprint === null ? licenseKey : `${licenseKey}\n${fingerprint}`, 'utf8').digest();
    const decipher = createDecipheriv('aes-256-gcm', secret, iv!);
    decipher.setAuthTag(tag!);
    json = Buffer.concat([decipher.update(ct!), decipher.final()]);
  }
  return { ...envelope, signed, payload: JSON.parse(json.toString('utf8')) as OpenedLicenseFile['payload'] };
}
