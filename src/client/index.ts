/**
 * keyward/client: check a license against a Keyward server and verify the signed answer, so a
 * fake server or a replayed answer cannot unlock the product. Needs only Node.js 18+ (fetch, crypto).
 */
import { createHash, createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';

export interface CheckOptions {
  /** The license server's base URL, e.g. `https://license.example.com`. */
  url: string;
  /** One product id (single check), or several (multiple check: the first the key grants decides). */
  productId: number | readonly number[];
  key: string;
  info?: string;
  /** false: do not write a Previous Auths entry. */
  log?: boolean;
  /** The server's public key(s): PEM or raw base64 (`keyward keys show`). Give old and new during a rotation. */
  publicKey: string | readonly string[];
  /** Use the V1 endpoint (`/api/checkitem/:id`); single product only. */
  v1?: boolean;
  /** Largest accepted difference between the answer's date and this machine's clock (default 5 minutes). */
  maxSkewMs?: number;
  timeoutMs?: number;
}

export interface CheckResult {
  status: string;
  pass: boolean;
  details: string;
  /** Multiple check: the product the answer is about, always one of those asked for. */
  proId?: number;
  /** The HTTP status (200 for every check outcome; 429 when rate limited). */
  httpStatus: number;
  keyId: string;
  date: string;
}

/**
 * The answer could not be trusted: unsigned, tampered, replayed, too old, from another key, or
 * about a product this check did not ask for.
 */
export class KeywardVerificationError extends Error {
  override name = 'KeywardVerificationError';
}

export async function check(options: CheckOptions): Promise<CheckResult> {
  const nonce = randomBytes(18).toString('base64url');
  const ids = typeof options.productId === 'number' ? [options.productId] : [...options.productId];
  const multiple = typeof options.productId !== 'number';
  if (ids.length === 0) throw new TypeError('productId: give at least one product id');
  // Whole numbers, as the answer's proId is compared with them.
  if (!ids.every((id) => Number.isSafeInteger(id) && id >= 0)) throw new TypeError('productId: product ids are whole numbers');
  if (options.v1 && multiple) throw new TypeError('v1: the V1 endpoint checks one product');
  const params = new URLSearchParams();
  if (multiple) params.set('proIds', ids.join(','));
  if (options.info !== undefined) params.set('info', options.info);
  if (options.log === false) params.set('log', 'false');
  params.set('nonce', nonce);
  const path = multiple ? '/api/check/multiple' : `${options.v1 ? '/api/checkitem' : '/api/check'}/${ids[0]}`;
  const base = new URL(options.url);
  const target = `${base.pathname.replace(/\/+$/, '')}${path}?${params.toString()}`;
  const response = await fetch(new URL(target, base), {
    method: 'POST',
    headers: { authorization: options.key, accept: 'application/json' },
    // A redirect would change the request that was signed (and turn the POST into a GET).
    redirect: 'error',
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  });
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
  const message = Buffer.from(
    `keyward-v1\nPOST ${target}\n${date}\n${nonce}\n${createHash('sha256').update(body).digest('hex')}`,
    'utf8',
  );
  const sig = Buffer.from(signature, 'base64');
  if (!publicKeys(options.publicKey).some((key) => verify(null, message, key, sig))) {
    throw new KeywardVerificationError('the answer signature does not verify');
  }
  let parsed: { status?: unknown; pass?: unknown; details?: unknown; proId?: unknown };
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new KeywardVerificationError('the signed answer is not JSON');
  }
  if (typeof parsed.status !== 'string' || typeof parsed.pass !== 'boolean' || typeof parsed.details !== 'string') {
    throw new KeywardVerificationError('the signed answer does not have the check shape');
  }
  // The signature does not cover the request body, and a body's proIds win over the query's: a proxy
  // can get a genuine answer about another product. Only an answer about an asked product counts.
  const { proId } = parsed;
  if (proId !== undefined && !(typeof proId === 'number' && ids.includes(proId))) {
    throw new KeywardVerificationError(`the answer is about product ${JSON.stringify(proId)}, which this check did not ask for`);
  }
  if (multiple && parsed.pass && proId === undefined) {
    throw new KeywardVerificationError('the answer passes without naming the product it is about');
  }
  return {
    status: parsed.status,
    pass: parsed.pass,
    details: parsed.details,
    ...(typeof proId === 'number' ? { proId } : {}),
    httpStatus: response.status,
    keyId,
    date,
  };
}

const keyCache = new Map<string, KeyObject>();

function publicKeys(input: string | readonly string[]): KeyObject[] {
  return (typeof input === 'string' ? [input] : [...input]).map((text) => {
    let key = keyCache.get(text);
    if (!key) {
      key = text.includes('BEGIN PUBLIC KEY')
        ? createPublicKey(text)
        : createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(text.trim(), 'base64').toString('base64url') }, format: 'jwk' });
      keyCache.set(text, key);
    }
    return key;
  });
}
