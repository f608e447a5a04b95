import { LIMITS } from '../licensing/schemas/limits.js';
import { jsonPrefix } from './json-prefix.js';
import { parseFingerprint } from '../licensing/machine-rules.js';
import { LICENSE_FILE_ALGS, type LicenseFileAlg } from '../licensing/license-file.js';

/** What a check request says, gathered from its header, query string and body (docs/check-api.md). */
export interface CheckInput {
  key: string | null;
  /** Product ids for the multiple check, in the caller's order, without duplicates. */
  proIds: number[];
  info: string | null;
  log: boolean;
  /** The caller's nonce, echoed inside the signed message (docs/signed-answers.md); null when absent or too long. */
  nonce: string | null;
  /** The machine's fingerprint when it is valid (1-255 printable ASCII); null when absent or invalid. */
  fingerprint: string | null;
  /** A fingerprint was sent but is not valid: a check treats it as none, a client endpoint refuses it. */
  badFingerprint: boolean;
  /** What the client says about its machine (`machineName` or `name`, `platform`, `hostname`). */
  machine: { name: string | null; platform: string | null; hostname: string | null };
  /** Client endpoints: `productId` from the body or query, as a list of one (empty: none or invalid). */
  productId: number[];
  /** Feature codes asked for, as sent (null: none); past the 101st they are dropped (more than 100 never pass). */
  entitlements: string[] | null;
  /** `usage`'s `increment`, `file`'s `ttlSeconds` and `alg`: absent (undefined), valid, or INVALID (never clamped). */
  increment: number | typeof INVALID | undefined;
  ttlSeconds: number | typeof INVALID | undefined;
  alg: LicenseFileAlg | typeof INVALID | undefined;
}

/** A value sent but not valid: a client endpoint answers INVALID INPUT and counts nothing. */
export const INVALID = Symbol('invalid');

export const INFO_MAX = LIMITS.check.info;
export const USER_AGENT_MAX = LIMITS.check.userAgent;
export const NONCE_MAX = LIMITS.check.nonce;
const MAX_PRO_IDS = LIMITS.check.productIds;
const MACHINE_TEXT_MAX = LIMITS.machine.text;
const NO_LOG = new Set(['false', '0', 'no', 'off']);
const KEY_PREFIX = /^(?:bearer|license)(?:\s+|$)/i;

type Fields = {
  proIds?: unknown;
  info?: unknown;
  log?: unknown;
  nonce?: unknown;
  fingerprint?: unknown;
  machineName?: unknown;
  name?: unknown;
  platform?: unknown;
  hostname?: unknown;
  productId?: unknown;
  entitlements?: unknown;
  increment?: unknown;
  ttlSeconds?: unknown;
  alg?: unknown;
};

/** Single-valued fields a form may carry (the first of repeated keys counts). */
const FORM_FIELDS = new Set<string>(['info', 'log', 'nonce', 'fingerprint', 'machineName', 'name', 'platform', 'hostname', 'productId', 'increment', 'ttlSeconds', 'alg']);

/**
 * Never throws: a body that does not parse counts as empty, odd values are ignored,
 * so the check runs on whatever the header, URL and query give.
 */
export function parseCheckInput(
  authorization: string | undefined,
  rawQuery: string,
  body: unknown,
  contentType: string | undefined,
): CheckInput {
  const query = rawQuery ? fromForm(new URLSearchParams(rawQuery)) : {};
  const fromBody = parseBody(body, contentType);
  const pick = <K extends keyof Fields>(k: K): unknown => (fromBody[k] !== undefined ? fromBody[k] : query[k]);
  const rawFingerprint = pick('fingerprint');
  const fingerprint = rawFingerprint === undefined || rawFingerprint === null ? null : parseFingerprint(rawFingerprint);
  return {
    key: parseKey(authorization),
    proIds: parseProIds(pick('proIds')),
    info: parseInfo(pick('info')),
    log: parseLog(pick('log')),
    nonce: parseNonce(pick('nonce')),
    fingerprint,
    badFingerprint: fingerprint === null && rawFingerprint !== undefined && rawFingerprint !== null,
    machine: { name: machineText(pick('machineName') ?? pick('name')), platform: machineText(pick('platform')), hostname: machineText(pick('hostname')) },
    productId: parseProductId(pick('productId')),
    entitlements: parseEntitlements(pick('entitlements')),
    increment: wholeIn(pick('increment'), LIMITS.usage.increment),
    ttlSeconds: wholeIn(pick('ttlSeconds'), LIMITS.licenseFile.ttlSeconds),
    alg: parseAlg(pick('alg')),
  };
}

/** More asked codes than this never pass, so no more are kept. */
const MAX_ASKED = LIMITS.policy.entitlements.max + 1;

/**
 * Feature codes in the forms `proIds` takes: an array, "a,b", "[\"a\",\"b\"]", repeated form keys.
 * Kept as sent (trimmed), valid or not: a code outside the pattern is simply never granted.
 */
export function parseEntitlements(value: unknown): string[] | null {
  if (value === undefined || value === null) return null;
  const out: string[] = [];
  const visit = (v: unknown, depth: number): void => {
    if (out.length >= MAX_ASKED || depth > 3) return;
    if (typeof v === 'string') {
      const text = v.trim();
      if (text.startsWith('[')) {
        try {
          return visit(JSON.parse(text), depth + 1);
        } catch {
          return visit(text.slice(1, text.endsWith(']') ? -1 : undefined), depth + 1);
        }
      }
      for (const part of text.split(',')) {
        const code = part.trim().replace(/^"(.*)"$/, '$1');
        if (code !== '' && out.length < MAX_ASKED && !out.includes(code)) out.push(code);
      }
    } else if (Array.isArray(v)) {
      for (const item of v) visit(item, depth + 1);
    } else if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'object') {
      // Not a code: asked as a name no code can have (none starts with '<'), so it is never granted.
      // Its JSON text would not do: `true`, `null` and `1` are the codes "true", "null" and "1".
      const notCode = `<${v === null ? 'null' : typeof v}>`;
      if (!out.includes(notCode)) out.push(notCode);
    }
  };
  visit(value, 0);
  return out.length ? out : null;
}

/** A whole number in range, as a number or its plain digits (forms and queries send text); anything else is INVALID. */
function wholeIn(value: unknown, range: { min: number; max: number }): number | typeof INVALID | undefined {
  if (value === undefined || value === null) return undefined;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d{1,16}$/.test(value) ? Number(value) : NaN;
  return Number.isSafeInteger(n) && n >= range.min && n <= range.max ? n : INVALID;
}

function parseAlg(value: unknown): LicenseFileAlg | typeof INVALID | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' && (LICENSE_FILE_ALGS as readonly string[]).includes(value) ? (value as LicenseFileAlg) : INVALID;
}

/** A machine's name, platform or hostname: text only, cut to its limit, storable. */
function machineText(value: unknown): string | null {
  if (typeof value !== 'string' || value === '') return null;
  return storableText(value.length <= MACHINE_TEXT_MAX ? value : value.slice(0, MACHINE_TEXT_MAX));
}

/** One product id: a whole number or its digits as text. */
function parseProductId(value: unknown): number[] {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? [value] : [];
  if (typeof value === 'string' && /^\d{1,15}$/.test(value.trim())) return [Number(value.trim())];
  return [];
}

export function parseKey(header: string | undefined): string | null {
  if (typeof header !== 'string') return null;
  const key = header.trim().replace(KEY_PREFIX, '').trim();
  return key === '' ? null : key;
}

function parseBody(body: unknown, contentType: string | undefined): Fields {
  if (typeof body !== 'string') return isObject(body) ? (body as Fields) : {};
  const text = body.trim();
  if (text === '') return {};
  const type = (contentType ?? '').toLowerCase();
  const looksJson = text.startsWith('{');
  if (type.includes('json') || (looksJson && !type.includes('urlencoded'))) {
    try {
      const value: unknown = JSON.parse(text);
      return isObject(value) ? (value as Fields) : {};
    } catch {
      return {};
    }
  }
  if (type.includes('urlencoded') || (type === '' || type.startsWith('text/')) && text.includes('=')) {
    return fromForm(new URLSearchParams(text));
  }
  return {};
}

/** Form fields: repeated keys and bracket keys (`proIds[]`, `proIds[0]`) make a list. */
function fromForm(params: URLSearchParams): Fields {
  const fields: Fields = {};
  const proIds: string[] = [];
  const entitlements: string[] = [];
  for (const [name, value] of params) {
    if (name === 'proIds' || /^proIds\[\d*\]$/.test(name)) proIds.push(value);
    else if (name === 'entitlements' || /^entitlements\[\d*\]$/.test(name)) entitlements.push(value);
    else if (FORM_FIELDS.has(name) && fields[name as keyof Fields] === undefined) fields[name as keyof Fields] = value;
  }
  if (proIds.length) fields.proIds = proIds;
  if (entitlements.length) fields.entitlements = entitlements;
  return fields;
}

/** Accepts arrays, numbers, "8,16", "[8,16]" and any nesting of those; keeps order, drops repeats. */
export function parseProIds(value: unknown): number[] {
  const out: number[] = [];
  const visit = (v: unknown, depth: number): void => {
    if (out.length >= MAX_PRO_IDS || depth > 6) return;
    if (typeof v === 'number') {
      if (Number.isSafeInteger(v) && v >= 0 && !out.includes(v)) out.push(v);
    } else if (typeof v === 'string') {
      const text = v.trim();
      if (text.startsWith('[')) {
        try {
          visit(JSON.parse(text), depth + 1);
        } catch {
          visit(text.slice(1, text.endsWith(']') ? -1 : undefined), depth + 1);
        }
        return;
      }
      for (const part of text.split(',')) {
        const p = part.trim().replace(/^"(.*)"$/, '$1');
        if (/^\d{1,15}$/.test(p)) visit(Number(p), depth + 1);
      }
    } else if (Array.isArray(v)) {
      for (const item of v) visit(item, depth + 1);
    }
  };
  visit(value, 0);
  return out;
}

/** Text as it is; any other value as its JSON text, however deep or large (only what is kept is written). */
export function parseInfo(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  const text = typeof value === 'string' ? value : jsonPrefix(value, INFO_MAX + 1);
  if (text.length <= INFO_MAX) return storableText(text);
  // Do not leave half of a surrogate pair at the cut.
  const cut = text.slice(0, INFO_MAX);
  return storableText(/[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut);
}

/**
 * The User-Agent as stored with the check: cut to its first 1,000 characters like `info`, never
 * refused. Node reads header bytes as Latin-1 and refuses a NUL in a header, so there is no
 * surrogate pair to split and nothing storableText would replace.
 */
export function parseUserAgent(header: string | undefined): string | null {
  if (header === undefined) return null;
  return header.length <= USER_AGENT_MAX ? header : header.slice(0, USER_AGENT_MAX);
}

type WellFormed = { isWellFormed(): boolean; toWellFormed(): string };

/**
 * Text every database stores as given, so one odd check cannot fail the batch of Previous Auths
 * it is written with: a NUL (PostgreSQL refuses it in text) and a lone surrogate half (not
 * UTF-8) each become U+FFFD. Same length, so limits still hold.
 */
export function storableText(text: string): string {
  const clean = (text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text) as unknown as WellFormed & string;
  return clean.isWellFormed() ? clean : clean.toWellFormed();
}

export function parseNonce(value: unknown): string | null {
  // No control characters: the nonce is one line of the signed message.
  return typeof value === 'string' && value !== '' && value.length <= NONCE_MAX && !/[\x00-\x1f\x7f]/.test(value) ? value : null;
}

export function parseLog(value: unknown): boolean {
  if (value === false || value === 0) return false;
  if (typeof value === 'string') return !NO_LOG.has(value.trim().toLowerCase());
  return true;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
