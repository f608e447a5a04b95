/**
 * What every call of keyward/client shares: reading a signed answer and refusing it unless its
 * date and Ed25519 signature check out (docs/signed-answers.md). Only the signed message differs
 * between the check endpoints (version 1) and the client endpoints (version 2).
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';

/**
 * The answer could not be trusted: unsigned, tampered, replayed, too old, from another key, or
 * about a request this call did not make.
 */
export class KeywardVerificationError extends Error {
  override name = 'KeywardVerificationError';
}

/** What verifying takes from the caller's options. */
export interface TrustOptions {
  /** The server's public key(s): PEM or raw base64 (`keyward keys show`). Give old and new during a rotation. */
  publicKey: string | readonly string[];
  /** Largest accepted difference between the answer's date and this machine's clock (default 5 minutes). */
  maxSkewMs?: number;
}

/** A verified answer: its exact bytes, and who signed it when. */
export interface SignedAnswer {
  body: Buffer;
  httpStatus: number;
  keyId: string;
  date: string;
}

export const sha256Hex = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/**
 * Reads the answer's bytes and verifies its signature over `message(date, body)`, which the caller
 * builds from its own request, never from the answer.
 */
export async function verifiedAnswer(response: Response, options: TrustOptions, message: (date: string, body: Buffer) => string): Promise<SignedAnswer> {
  const body = Buffer.from(await response.arrayBuffer());
  const signature = response.headers.get('x-keyward-signature');
  const keyId = response.headers.get('x-keyward-key-id');
  const date = response.headers.get('x-keyward-date');
  if (!signature || !keyId || !date) throw new KeywardVerificationError('the answer is not signed');
  const when = Date.parse(date);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(date) || Number.isNaN(when)) {
    throw new KeywardVerificationError('the answer has an invalid date');
  }
  if (Math.abs(Date.now() - when) > (options.maxSkewMs ?? 5 * 60_000)) {
    throw new KeywardVerificationError('the answer is too old or from the future (check the clock)');
  }
  const signed = Buffer.from(message(date, body), 'utf8');
  const sig = Buffer.from(signature, 'base64');
  if (!publicKeys(options.publicKey).some((key) => verify(null, signed, key, sig))) {
    throw new KeywardVerificationError('the answer signature does not verify');
  }
  return { body, httpStatus: response.status, keyId, date };
}

/** The signed body as JSON with the check shape (`status`, `pass`, `details`); anything else is refused. */
export function checkShaped(body: Buffer): Record<string, unknown> & { status: string; pass: boolean; details: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new KeywardVerificationError('the signed answer is not JSON');
  }
  const answer = parsed as { status?: unknown; pass?: unknown; details?: unknown } | null;
  if (typeof answer !== 'object' || answer === null || typeof answer.status !== 'string' || typeof answer.pass !== 'boolean' || typeof answer.details !== 'string') {
    throw new KeywardVerificationError('the signed answer does not have the check shape');
  }
  return answer as Record<string, unknown> & { status: string; pass: boolean; details: string };
}

/** The base URL's path without its trailing slashes, so `https://host/` and `https://host` send the same target. */
export const basePath = (base: URL): string => base.pathname.replace(/\/+$/, '');

const keyCache = new Map<string, KeyObject>();

function publicKeys(input: string | readonly string[]): KeyObject[] {
  return (typeof input === 'string' ? [input] : [...input]).map(publicKeyObject);
}

/** An Ed25519 public key given as SPKI PEM or as the raw 32 bytes in base64 (parsed once). */
export function publicKeyObject(text: string): KeyObject {
  let key = keyCache.get(text);
  if (!key) {
    key = text.includes('BEGIN PUBLIC KEY')
      ? createPublicKey(text)
      : createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(text.trim(), 'base64').toString('base64url') }, format: 'jwk' });
    keyCache.set(text, key);
  }
  return key;
}

const PRINTABLE_ASCII = /^[\x20-\x7e]{1,255}$/;

/** A fingerprint the server accepts (1-255 printable ASCII); anything else is refused before sending. */
export function checkFingerprint(fingerprint: unknown): void {
  if (fingerprint !== undefined && (typeof fingerprint !== 'string' || !PRINTABLE_ASCII.test(fingerprint))) {
    throw new TypeError('fingerprint: 1 to 255 printable ASCII characters (hash longer or other identifiers first)');
  }
}
