import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { LIMITS } from './schemas/limits.js';

const KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
export const KEY_LENGTH = 45;

/** A new license key: 45 characters of [A-Za-z0-9_-] from the CSPRNG (64 symbols, so no modulo bias). */
export function generateKey(length = KEY_LENGTH): string {
  const bytes = randomBytes(length);
  let key = '';
  for (let i = 0; i < length; i++) key += KEY_ALPHABET[bytes[i]! & 63];
  return key;
}

/** The lookup digest stored for a key: lowercase hex SHA-256 of its UTF-8 bytes. */
export function digestKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** The longest license key there can be (imported keys included). */
export const KEY_MAX_LENGTH = LIMITS.license.key.max;

/** Keys may be imported in any format, but must be printable and of sane length. */
export function checkKeyFormat(key: string): string | null {
  if (key.length < LIMITS.license.key.min) return `a license key must be at least ${LIMITS.license.key.min} characters`;
  if (key.length > KEY_MAX_LENGTH) return `a license key must be at most ${KEY_MAX_LENGTH} characters`;
  if (!/^[\x21-\x7e]+$/.test(key)) return 'a license key may only contain printable ASCII without spaces';
  return null;
}

/**
 * Encrypts keys at rest with AES-256-GCM so their owner can reveal them, while a database dump
 * alone yields nothing usable. The AES key is derived from the server secret with HKDF.
 */
export class KeyCipher {
  private readonly aesKey: Buffer;

  /** `purpose` separates the keys derived for different things (license keys, signing keys, …). */
  constructor(secret: string, purpose = 'license-key-encryption-v1') {
    this.aesKey = Buffer.from(hkdfSync('sha256', secret, 'keyward', purpose, 32));
  }

  encrypt(key: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.aesKey, iv);
    const body = Buffer.concat([cipher.update(key, 'utf8'), cipher.final()]);
    return `v1:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  decrypt(stored: string): string {
    if (!stored.startsWith('v1:')) throw new Error('unknown key ciphertext format');
    const raw = Buffer.from(stored.slice(3), 'base64');
    if (raw.length < 28) throw new Error('key ciphertext is truncated');
    const decipher = createDecipheriv('aes-256-gcm', this.aesKey, raw.subarray(0, 12), { authTagLength: 16 });
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }
}
