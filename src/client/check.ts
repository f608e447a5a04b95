/**
 * `check()`: a license check on the check endpoints (docs/check-api.md), its version 1 signature
 * verified (docs/signed-answers.md), so a fake server or a replayed answer cannot unlock the product.
 */
import { randomBytes } from 'node:crypto';
import { basePath, checkFingerprint, checkShaped, KeywardVerificationError, sha256Hex, verifiedAnswer, type TrustOptions } from './signature.js';

export interface CheckOptions extends TrustOptions {
  /** The license server's base URL, e.g. `https://license.example.com`. */
  url: string;
  /** One product id (single check), or several (multiple check: the first the key grants decides). */
  productId: number | readonly number[];
  key: string;
  info?: string;
  /** false: do not write a Previous Auths entry. */
  log?: boolean;
  /**
   * This machine's fingerprint, for licenses that count machines (docs/machines.md). Sent in the
   * signed query string; prefer `validate()` where a hostile network matters (docs/signed-answers.md).
   */
  fingerprint?: string;
  /** A name for this machine, kept when the check activates it. */
  machineName?: string;
  /** Use the V1 endpoint (`/api/checkitem/:id`); single product only. */
  v1?: boolean;
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

export async function check(options: CheckOptions): Promise<CheckResult> {
  const nonce = randomBytes(18).toString('base64url');
  const ids = typeof options.productId === 'number' ? [options.productId] : [...options.productId];
  const multiple = typeof options.productId !== 'number';
  if (ids.length === 0) throw new TypeError('productId: give at least one product id');
  // Whole numbers, as the answer's proId is compared with them.
  if (!ids.every((id) => Number.isSafeInteger(id) && id >= 0)) throw new TypeError('productId: product ids are whole numbers');
  if (options.v1 && multiple) throw new TypeError('v1: the V1 endpoint checks one product');
  checkFingerprint(options.fingerprint);
  const params = new URLSearchParams();
  if (multiple) params.set('proIds', ids.join(','));
  if (options.info !== undefined) params.set('info', options.info);
  if (options.log === false) params.set('log', 'false');
  // In the query, so the version 1 signature covers them (it does not cover a request body).
  if (options.fingerprint !== undefined) params.set('fingerprint', options.fingerprint);
  if (options.machineName !== undefined) params.set('machineName', options.machineName);
  params.set('nonce', nonce);
  const path = multiple ? '/api/check/multiple' : `${options.v1 ? '/api/checkitem' : '/api/check'}/${ids[0]}`;
  const base = new URL(options.url);
  const target = `${basePath(base)}${path}?${params.toString()}`;
  const response = await fetch(new URL(target, base), {
    method: 'POST',
    headers: { authorization: options.key, accept: 'application/json' },
    // A redirect would change the request that was signed (and turn the POST into a GET).
    redirect: 'error',
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  });
  const signed = await verifiedAnswer(response, options, (date, body) => `keyward-v1\nPOST ${target}\n${date}\n${nonce}\n${sha256Hex(body)}`);
  const parsed = checkShaped(signed.body);
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
    httpStatus: signed.httpStatus,
    keyId: signed.keyId,
    date: signed.date,
  };
}
