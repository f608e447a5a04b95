/**
 * The client endpoints (docs/check-api.md, "Client endpoints"): `validate`, `activate`, `deactivate`
 * and `heartbeat` a machine. Their answers carry a version 2 signature, which binds the request body
 * too (docs/signed-answers.md): the fingerprint, the product and the nonce this call sent.
 */
import { randomBytes } from 'node:crypto';
import { basePath, checkFingerprint, checkShaped, KeywardVerificationError, sha256Hex, verifiedAnswer, type TrustOptions } from './signature.js';

export interface LicenseCallOptions extends TrustOptions {
  /** The license server's base URL, e.g. `https://license.example.com`. */
  url: string;
  productId: number;
  key: string;
  /**
   * This machine's fingerprint (1-255 printable ASCII), stable across restarts. Licenses whose
   * machines are their IPs need none: the server uses the caller's IP.
   */
  fingerprint?: string;
  /** What the machine says about itself, kept when this call activates it (cut to 255 characters). */
  name?: string;
  platform?: string;
  hostname?: string;
  /** Saved with the Previous Auths entry. */
  info?: string;
  /** false: do not write a Previous Auths entry. */
  log?: boolean;
  timeoutMs?: number;
}

/** The caller's own machine as the server answers it. */
export interface MachineInfo {
  id: number;
  fingerprint: string;
  name: string | null;
  platform: string | null;
  hostname: string | null;
  createdAt: string;
  lastSeenAt: string;
  /** When it dies unless seen again (policies with a heartbeat); null: never. */
  deadAt: string | null;
}

/** `validate`'s view of the license, when the key grants the product. */
export interface LicenseInfo {
  id: number;
  productIds: number[];
  expiresAt: string | null;
  entitlements: string[];
  maxMachines: number | null;
  /** Live machines, this one included. */
  machines: number;
  uses: number;
  maxUses: number | null;
}

export interface LicenseCallResult {
  status: string;
  pass: boolean;
  details: string;
  /** This machine after the call; null when there is none (refused, freed, or the license counts no machines). */
  machine: MachineInfo | null;
  /** 200 for every outcome; 429 when rate limited. */
  httpStatus: number;
  keyId: string;
  date: string;
}

export interface ValidateResult extends LicenseCallResult {
  /** Null when the key does not grant the product (or the answer is no check outcome: 429, ERROR). */
  license: LicenseInfo | null;
}

export interface HeartbeatResult extends LicenseCallResult {
  /** Send the next heartbeat before this time; null when the machine is not alive or never dies. */
  nextHeartbeatBy: string | null;
}

/** A check that also answers the license and this machine; activates it as a check would. */
export async function validate(options: LicenseCallOptions): Promise<ValidateResult> {
  const { answer, result } = await call('validate', options);
  return { ...result, license: objectOrNull(answer.license, 'license') as LicenseInfo | null };
}

/** Takes a slot for this machine (`ACTIVATED`), or confirms it has one (`ALREADY ACTIVATED`). */
export async function activate(options: LicenseCallOptions): Promise<LicenseCallResult> {
  return (await call('activate', options)).result;
}

/** Frees this machine's slot (`DEACTIVATED`), within the key's daily allowance. */
export async function deactivate(options: LicenseCallOptions): Promise<LicenseCallResult> {
  return (await call('deactivate', options)).result;
}

/** Tells the server this machine is still running (`ALIVE`); `NOT ACTIVATED` once it died. */
export async function heartbeat(options: LicenseCallOptions): Promise<HeartbeatResult> {
  const { answer, result } = await call('heartbeat', options);
  const next = answer.nextHeartbeatBy;
  return { ...result, nextHeartbeatBy: typeof next === 'string' ? next : null };
}

type Op = 'validate' | 'activate' | 'deactivate' | 'heartbeat';

async function call(op: Op, options: LicenseCallOptions): Promise<{ answer: Record<string, unknown>; result: LicenseCallResult }> {
  if (!Number.isSafeInteger(options.productId) || options.productId < 0) throw new TypeError('productId: a whole number');
  checkFingerprint(options.fingerprint);
  const nonce = randomBytes(18).toString('base64url');
  const fields: Record<string, unknown> = { productId: options.productId };
  for (const name of ['fingerprint', 'name', 'platform', 'hostname', 'info'] as const) if (options[name] !== undefined) fields[name] = options[name];
  if (options.log === false) fields.log = false;
  fields.nonce = nonce;
  // The exact bytes sent are the bytes hashed into the signed message.
  const request = Buffer.from(JSON.stringify(fields), 'utf8');
  const base = new URL(options.url);
  const target = `${basePath(base)}/api/license/${op}`;
  const response = await fetch(new URL(target, base), {
    method: 'POST',
    headers: { authorization: options.key, 'content-type': 'application/json', accept: 'application/json' },
    body: request,
    // A redirect would change the request that was signed.
    redirect: 'error',
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  });
  const requestHash = sha256Hex(request);
  const signed = await verifiedAnswer(response, options, (date, body) => `keyward-v2\nPOST ${target}\n${date}\n${nonce}\n${requestHash}\n${sha256Hex(body)}`);
  const answer = checkShaped(signed.body);
  const machine = objectOrNull(answer.machine, 'machine') as MachineInfo | null;
  return {
    answer,
    result: { status: answer.status, pass: answer.pass, details: answer.details, machine, httpStatus: signed.httpStatus, keyId: signed.keyId, date: signed.date },
  };
}

/** An answer field that is an object, or absent/null (answers that are no check outcome have none). */
function objectOrNull(value: unknown, field: string): object | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw new KeywardVerificationError(`the signed answer's ${field} is not an object`);
  return value;
}
