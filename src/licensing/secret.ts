import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The server secret: KEYWARD_SECRET if set, else the one stored in DATA_DIR/secret.key,
 * created once (mode 0600). Creation uses O_EXCL so a CLI and a server starting together agree.
 */
export function loadSecret(configured: string | undefined, dataDir: string): string {
  if (configured) return configured;
  const file = path.resolve(dataDir, 'secret.key');
  try {
    return readSecretFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return readSecretFile(file);
}

function readSecretFile(file: string): string {
  const secret = readFileSync(file, 'utf8').trim();
  if (secret.length < 32) throw new Error(`${file} holds no usable secret (expected 64 hex characters)`);
  return secret;
}

/** A fingerprint of the secret, safe to store: it tells whether two secrets are the same, nothing more. */
export function secretFingerprint(secret: string): string {
  return createHmac('sha256', secret).update('keyward-secret-fingerprint-v1').digest('hex');
}

export const SECRET_MISMATCH =
  'the server secret does not match the one this database was created with, so stored keys could not be ' +
  'revealed and new ones would be unreadable elsewhere; set KEYWARD_SECRET (or DATA_DIR/secret.key) to the ' +
  'original secret, the same on every instance';
