import type { PolicyCreate } from '../../src/licensing/schemas/policy.js';
import { request, type RawResponse } from './http.js';
import type { TestServer } from './server.js';
import { PUBLIC_URL } from './suite.js';
import type { Received, Receiver } from './webhook-receiver.js';

/**
 * What the machine suites share: the answers of the machine steps written out (so a changed text
 * fails a test instead of changing what the test accepts), calls to the check and client
 * endpoints, policies, webhook subscriptions and metric readings.
 */

const tail = ` - ${PUBLIC_URL}`;
export const DETAILS = {
  'FINGERPRINT REQUIRED': `This license key runs only on activated machines; send this machine's fingerprint${tail}`,
  'NOT ACTIVATED': `This machine is not activated for this license key${tail}`,
  'TOO MANY MACHINES': `This license key is active on as many machines as it allows; free one on the license dashboard${tail}`,
  ACTIVATED: `Machine activated${tail}`,
  'ALREADY ACTIVATED': `This machine is already activated${tail}`,
  DEACTIVATED: `Machine deactivated${tail}`,
  'DEACTIVATION LIMIT': `This license key has freed as many machines as it may today; try again tomorrow${tail}`,
  ALIVE: `Heartbeat received${tail}`,
  AUTHORISED: `Authorisation completed${tail}`,
  'KEY NOT FOUND': `The license key was not found${tail}`,
  'PRODUCT NOT FOUND': `The product could not be found${tail}`,
} as const;

/** A check endpoint's answer for a machine step (`proId` for the multiple check). */
export const machineAnswer = (status: 'FINGERPRINT REQUIRED' | 'NOT ACTIVATED' | 'TOO MANY MACHINES', proId?: number) =>
  proId === undefined ? { status, pass: false, details: DETAILS[status] } : { status, pass: false, details: DETAILS[status], proId };

export type ClientOp = 'validate' | 'activate' | 'deactivate' | 'heartbeat' | 'usage' | 'file';

export interface CallOptions {
  /** The caller's IP, sent as X-Real-IP (servers started with TRUST_PROXY=loopback). */
  ip?: string;
  headers?: Record<string, string>;
}

/** One call to a client endpoint, `/api/license/<op>`, with a JSON body (a string is sent as it is). */
export function clientCall(url: string, op: ClientOp, key: string | null, body: Record<string, unknown> | string = {}, options: CallOptions = {}): Promise<RawResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (key !== null) headers.authorization = key;
  if (options.ip) headers['x-real-ip'] = options.ip;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  if (typeof body !== 'string') headers['content-type'] ??= 'application/json';
  return request(url, { method: 'POST', path: `/api/license/${op}`, headers, body: text });
}

/** One check on a check endpoint path (`/api/check/8?fingerprint=a`, …) with the key and optionally an IP. */
export function checkCall(url: string, path: string, key: string, options: CallOptions & { body?: string } = {}): Promise<RawResponse> {
  const headers: Record<string, string> = { authorization: key, ...options.headers };
  if (options.ip) headers['x-real-ip'] = options.ip;
  return request(url, { method: 'POST', path, headers, body: options.body });
}

/** The check's status for a fingerprint (none: no fingerprint sent) on `/api/check/<product>`. */
export async function checkStatus(url: string, key: string, fingerprint?: string, product = 8, options: CallOptions = {}): Promise<string> {
  const query = fingerprint === undefined ? '' : `?fingerprint=${encodeURIComponent(fingerprint)}`;
  return (await checkCall(url, `/api/check/${product}${query}`, key, options)).json.status;
}

let policySeq = 0;

/** A policy granting `productIds` with these settings. */
export async function makePolicy(server: TestServer, productIds: number[], settings: Omit<PolicyCreate, 'name' | 'productIds'>): Promise<{ id: number }> {
  await ensureProducts(server, productIds);
  return server.services.policies.create({ name: `Policy ${++policySeq}`, productIds, ...settings }, 'test');
}

/** A license issued from a policy (its products), with any license fields over it. */
export function issueFrom(server: TestServer, policyId: number, extra: Record<string, unknown> = {}): Promise<{ id: number; key: string }> {
  return issueLicense(server, { policyId, ...extra });
}

/** A license with these fields (products created beforehand with ensureProducts). */
export async function issueLicense(server: TestServer, fields: Record<string, unknown>): Promise<{ id: number; key: string }> {
  const license = await server.services.licenses.create(fields, 'test');
  return { id: license.id, key: license.key };
}

/** Creates the products that do not exist yet. */
export async function ensureProducts(server: TestServer, ids: number[]): Promise<void> {
  const known = new Set((await server.services.products.list()).map((p) => p.id));
  for (const id of ids) if (!known.has(id)) await server.services.products.create({ id, name: `Product ${id}` }, 'test');
}

export const MACHINE_EVENTS = ['machine.activated', 'machine.deactivated', 'machine.dead'];

/** Subscribes the receiver to the machine events (delivered by the server's worker); returns the endpoint's id. */
export async function subscribe(server: TestServer, receiver: Receiver, events: string[] = MACHINE_EVENTS): Promise<number> {
  return (await server.services.webhooks.create({ url: receiver.url, events }, 'test')).id;
}

/** The deliveries of one event type about one license. */
export const eventsOf = (receiver: Receiver, type: string, licenseId: number): Received[] =>
  receiver.received.filter((r) => r.json?.type === type && r.json.data?.license?.id === licenseId);

/** The machines of a license as staff see them. */
export async function machinesOf(server: TestServer, licenseId: number) {
  return (await server.services.machines.list(licenseId)).machines;
}

/** A counter's value in the server's /metrics text (0 when it has no such series yet). */
export async function metric(url: string, series: string): Promise<number> {
  const text = (await request(url, { method: 'GET', path: '/metrics' })).text;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** Counts of each answer status (the race suites: so many won, so many refused). */
export const tally = (statuses: string[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const s of statuses) out[s] = (out[s] ?? 0) + 1;
  return out;
};

/** Polls `read` until it returns `want`; returns how long that took (ms), or throws after `timeoutMs`. */
export async function timeUntil<T>(read: () => Promise<T>, want: T, timeoutMs = 3000): Promise<number> {
  const start = Date.now();
  let last: T;
  while ((last = await read()) !== want) {
    if (Date.now() - start > timeoutMs) throw new Error(`still ${String(last)}, not ${String(want)}, after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - start;
}
