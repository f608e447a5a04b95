import { Type } from 'typebox';
import { LICENSE_FILE_ALGS } from '../license-file.js';
export { LICENSE_FILE_ALGS, type LicenseFileAlg } from '../license-file.js';
import { Literals, Time } from './common.js';
import { LIMITS } from './limits.js';

/** What staff ask a license file for, and what they get (docs/license-files.md). */

const TTL = LIMITS.licenseFile.ttlSeconds;

export const Fingerprint = Type.String({ pattern: LIMITS.machine.fingerprint.pattern, rule: 'must be 1-255 printable ASCII characters' });

export const TtlSeconds = Type.Integer({
  minimum: TTL.min,
  maximum: TTL.max,
  description: `Its life in seconds (default ${TTL.default}, 30 days); it never outlives the license`,
});

export const LicenseFileInput = Type.Object(
  {
    fingerprint: Type.Optional({
      ...Fingerprint,
      description: "The machine it is bound to; required when the license tracks machines (one of its active machines, which then keeps its slot until the file ends)",
    }),
    ttlSeconds: Type.Optional(TtlSeconds),
    alg: Type.Optional({ ...Literals(LICENSE_FILE_ALGS), description: 'How the payload is sealed: aes-256-gcm+ed25519 (default; encrypted with the license key) or base64+ed25519 (signed only)' }),
  },
  { additionalProperties: false },
);

export const LicenseFile = Type.Object({
  file: Type.String({ description: 'The armoured file (-----BEGIN KEYWARD LICENSE FILE-----): a credential, shown in this answer only' }),
  expiresAt: { ...Time, description: 'When the file ends: its TTL from now, or the license expiry if sooner' },
});
