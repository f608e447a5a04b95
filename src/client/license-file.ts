/**
 * `verifyLicenseFile()`: reads an offline license file (docs/license-files.md) with no server in
 * reach. It must be signed by a key the product trusts, open with this license key (and this
 * machine's fingerprint, for a bound file), and be inside its own validity window.
 */
import { createDecipheriv, createHash, verify } from 'node:crypto';
import { basePath, KeywardVerificationError, publicKeyObject } from './signature.js';

/** Why a license file was refused; the PHP and Python verifiers of the docs print the same codes. */
export type LicenseFileFailure =
  | 'malformed'
  | 'unsupported_alg'
  | 'unknown_key'
  | 'bad_signature'
  | 'wrong_key'
  | 'wrong_fingerprint'
  | 'not_yet_valid'
  | 'expired';

/** A license file that cannot be trusted here and now; `code` says why. */
export class KeywardLicenseFileError extends KeywardVerificationError {
  override name = 'KeywardLicenseFileError';
  constructor(
    readonly code: LicenseFileFailure,
    message: string,
  ) {
    super(message);
  }
}

/** What a license file says. Times are ISO 8601 UTC. */
export interface LicenseFilePayload {
  license: {
    id: number;
    productIds: number[];
    entitlements: string[];
    /** null: perpetual. */
    expiresAt: string | null;
    maxMachines: number | null;
    maxUses: number | null;
  };
  /** The machine the file is bound to; null: any machine. */
  machine: { fingerprint: string } | null;
  issuedAt: string;
  /** The file's own end, never past the license's. */
  expiresAt: string;
}

/** One public key as `GET /api/public-key` lists it. */
export interface PublicKeyInfo {
  id: string;
  /** SPKI PEM. */
  pem: string;
  /** The 32-byte Ed25519 public key, base64. */
  raw: string;
  createdAt: string;
  retiredAt: string | null;
  current: boolean;
}

/** What `GET /api/public-key` answers. */
export interface PublicKeysAnswer {
  keyId: string;
  pem: string;
  raw: string;
  keys: PublicKeyInfo[];
}

/** A key of a list: its id and its PEM or raw base64. */
export type PublicKeyEntry = { id: string } & ({ pem: string; raw?: string } | { raw: string; pem?: string });

/**
 * The keys a file may be signed by: the whole `GET /api/public-key` answer, its `keys`, or a map of
 * key id to PEM or raw base64. Ship every listed key: files stay valid through a rotation.
 */
export type LicenseFilePublicKeys = { keys: readonly PublicKeyEntry[] } | readonly PublicKeyEntry[] | Readonly<Record<string, string>>;

export interface VerifyLicenseFileOptions {
  publicKeys: LicenseFilePublicKeys;
  /** Opens an encrypted file (`aes-256-gcm+ed25519`); a `base64+ed25519` file needs none to be read. */
  licenseKey: string;
  /** This machine's fingerprint: required for a machine-bound file; an unbound file opens on any machine. */
  fingerprint?: string;
  /** The time to judge the file at (default: now). */
  now?: Date | number;
}

const ARMOUR = /-----BEGIN KEYWARD LICENSE FILE-----([\s\S]*?)-----END KEYWARD LICENSE FILE-----/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/;
const ALGS: readonly string[] = ['aes-256-gcm+ed25519', 'base64+ed25519'];
const SIGNED_PREFIX = 'keyward-license-v1/';

function fail(code: LicenseFileFailure, message: string): never {
  throw new KeywardLicenseFileError(code, message);
}

/** Standard padded base64 only: another alphabet or stray characters are not this format. */
const base64 = (text: string): Buffer | null => (BASE64.test(text) ? Buffer.from(text, 'base64') : null);

/**
 * The payload of a genuine, current license file for this license key (and machine); throws
 * `KeywardLicenseFileError` otherwise.
 */
export function verifyLicenseFile(text: string, options: VerifyLicenseFileOptions): LicenseFilePayload {
  const { alg, kid, enc, sig } = readFields(text);
  if (!ALGS.includes(alg)) fail('unsupported_alg', `the file's alg ${JSON.stringify(alg)} is not one this library knows`);
  const keyText = publicKeyText(options.publicKeys, kid);
  if (keyText === undefined) fail('unknown_key', `the file is signed by key ${JSON.stringify(kid)}, which is not in the trusted list`);
  const signature = base64(sig);
  if (!signature || !verifies(Buffer.from(SIGNED_PREFIX + enc, 'utf8'), keyText, signature)) fail('bad_signature', 'the file signature does not verify');
  const plain = alg === 'base64+ed25519' ? (base64(enc) ?? fail('malformed', 'the file payload is not base64')) : open(enc, options);
  const payload = readPayload(plain);
  if (payload.machine !== null && payload.machine.fingerprint !== options.fingerprint) fail('wrong_fingerprint', 'the file is for another machine');
  const now = options.now === undefined ? Date.now() : Number(options.now);
  if (now < Date.parse(payload.issuedAt)) fail('not_yet_valid', `the file is valid from ${payload.issuedAt} (check the clock)`);
  if (now > Date.parse(payload.expiresAt)) fail('expired', `the file expired at ${payload.expiresAt}`);
  return payload;
}

/**
 * `GET /api/public-key` of a server: for a build script or an installer that writes the keys into
 * the product. A product must not fetch them at start-up from the server it distrusts.
 */
export async function fetchPublicKeys(serverUrl: string, options: { timeoutMs?: number } = {}): Promise<PublicKeysAnswer> {
  const base = new URL(serverUrl);
  const response = await fetch(new URL(`${basePath(base)}/api/public-key`, base), {
    headers: { accept: 'application/json' },
    redirect: 'error',
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  });
  if (!response.ok) throw new Error(`GET /api/public-key answered HTTP ${response.status}`);
  const answer = (await response.json()) as Partial<PublicKeysAnswer> | null;
  if (typeof answer?.keyId !== 'string' || !Array.isArray(answer.keys) || !answer.keys.every((k) => typeof k?.id === 'string' && typeof k.raw === 'string')) {
    throw new Error('GET /api/public-key did not answer a list of public keys');
  }
  return answer as PublicKeysAnswer;
}

function readFields(text: string): { alg: string; kid: string; enc: string; sig: string } {
  const body = ARMOUR.exec(text)?.[1]?.replace(/\s+/g, '');
  const json = body === undefined ? null : base64(body);
  let fields: unknown;
  try {
    fields = json && JSON.parse(json.toString('utf8'));
  } catch {
    fields = null;
  }
  const f = fields as Record<string, unknown> | null;
  if (typeof f !== 'object' || f === null || !['alg', 'kid', 'enc', 'sig'].every((name) => typeof f[name] === 'string')) {
    fail('malformed', 'not a Keyward license file');
  }
  return f as { alg: string; kid: string; enc: string; sig: string };
}

/** The PEM or raw base64 of key `kid`, from any of the shapes `publicKeys` accepts. */
function publicKeyText(keys: LicenseFilePublicKeys, kid: string): string | undefined {
  const list = Array.isArray(keys) ? keys : Array.isArray((keys as { keys?: unknown }).keys) ? (keys as { keys: readonly PublicKeyEntry[] }).keys : null;
  if (list === null) {
    const map = keys as Readonly<Record<string, unknown>>;
    const text = Object.hasOwn(map, kid) ? map[kid] : undefined;
    return typeof text === 'string' ? text : undefined;
  }
  const entry = (list as readonly PublicKeyEntry[]).find((k) => k.id === kid);
  return entry === undefined ? undefined : (entry.raw ?? entry.pem);
}

function verifies(message: Buffer, keyText: string, signature: Buffer): boolean {
  let key;
  try {
    key = publicKeyObject(keyText);
  } catch {
    throw new TypeError('publicKeys: each key is an Ed25519 public key, PEM or raw base64');
  }
  try {
    return verify(null, message, key, signature);
  } catch {
    return false; // a signature of the wrong length
  }
}

/**
 * Decrypts `ciphertext.iv.tag` with SHA-256 of the license key (and fingerprint). Given a
 * fingerprint, the key alone is tried second: an unbound file opens on every machine.
 */
function open(enc: string, options: VerifyLicenseFileOptions): Buffer {
  const parts = enc.split('.').map(base64);
  const [ciphertext, iv, tag] = parts;
  if (parts.length !== 3 || !ciphertext || iv?.length !== 12 || tag?.length !== 16) fail('malformed', 'the encrypted payload is not ciphertext.iv.tag');
  const secrets = options.fingerprint === undefined ? [options.licenseKey] : [`${options.licenseKey}\n${options.fingerprint}`, options.licenseKey];
  for (const secret of secrets) {
    const decipher = createDecipheriv('aes-256-gcm', sha256(secret), iv).setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch {
      // another license key, or another machine's file: try the next, then refuse
    }
  }
  return fail('wrong_key', 'the file does not open with this license key (and fingerprint)');
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

function readPayload(plain: Buffer): LicenseFilePayload {
  let payload: Partial<LicenseFilePayload> | null;
  try {
    payload = JSON.parse(plain.toString('utf8'));
  } catch {
    payload = null;
  }
  const machine = payload?.machine;
  const shaped =
    typeof payload?.license === 'object' &&
    payload.license !== null &&
    (machine === null || (typeof machine === 'object' && typeof machine?.fingerprint === 'string')) &&
    typeof payload.issuedAt === 'string' &&
    ISO_TIME.test(payload.issuedAt) &&
    typeof payload.expiresAt === 'string' &&
    ISO_TIME.test(payload.expiresAt);
  if (!shaped) fail('malformed', 'the file payload does not have the license file shape');
  return payload as LicenseFilePayload;
}
