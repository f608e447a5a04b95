import { normalizeAllowList } from '../licensing/ip-allow-list.js';
import { checkKeyFormat, digestKey } from '../licensing/key.js';
import { MAX_DB_ID } from '../licensing/schemas/limits.js';
import { parseIsoTime, quote } from '../licensing/values.js';

/** The columns of FaxStore's `licensesystem` table (also the CSV header), plus the owner's name for CSV. */
export const FAXSTORE_COLUMNS = [
  'id',
  'userId',
  'productName',
  'productId',
  'authStatus',
  'totalRequests',
  'lastRequest',
  'authIP',
  'authKey',
  'authStatusForced',
  'iplocked',
  'ownedid',
] as const;
export const CSV_EXTRA_COLUMNS = ['username', 'email'] as const;

export type FaxStoreColumn = (typeof FAXSTORE_COLUMNS)[number] | (typeof CSV_EXTRA_COLUMNS)[number];

/** One source row as read (values of any driver type); `line` is set for CSV rows. */
export type FaxStoreRow = Partial<Record<FaxStoreColumn, unknown>> & { line?: number };

/** Why a row was not imported, or what was assumed for one that was. */
export type SkipCode = 'no_product' | 'invalid_product' | 'invalid_key' | 'duplicate_key';
export type WarningCode = 'ip' | 'last_request' | 'total_requests' | 'owner' | 'product_name';

export interface RowRef {
  /** The FaxStore license id, when the row has one. */
  id: number | string | null;
  /** The CSV line the row starts on. */
  line?: number;
}

export interface LicensePlan extends RowRef {
  key: string;
  digest: string;
  productId: number;
  productName: string;
  /** True when productId was 0 and --default-product stood in for it. */
  defaulted: boolean;
  /** The FaxStore owner id (a Discord user id in practice), or null for none. */
  userId: string | null;
  active: boolean;
  disabled: boolean;
  ipLocked: boolean;
  ips: string[];
  totalChecks: number;
  lastCheckAt: number | null;
  note: string;
}

export type RowResult =
  | { ok: true; plan: LicensePlan; warnings: { code: WarningCode; reason: string }[] }
  | { ok: false; code: SkipCode; reason: string };

const SNOWFLAKE = /^\d{17,20}$/;

/** Discord user ids are 17-20 digit snowflakes; FaxStore stores the buyer's Discord id as `userId`. */
export const isSnowflake = (value: string): boolean => SNOWFLAKE.test(value);

/**
 * Turns one FaxStore row into what Keyward stores, applying the documented rules
 * (docs/import.md). The clear key never appears in a reason.
 */
export function mapFaxStoreRow(row: FaxStoreRow, options: { defaultProduct?: number } = {}): RowResult {
  const id = rowId(row.id);
  const keyText = text(row.authKey);
  if (keyText === null || keyText.trim() === '') return { ok: false, code: 'invalid_key', reason: 'authKey is empty' };
  const key = keyText.trim();
  const keyProblem = checkKeyFormat(key);
  if (keyProblem) return { ok: false, code: 'invalid_key', reason: `authKey rejected: ${keyProblem}` };

  const productText = text(row.productId)?.trim() ?? '';
  let productId: number;
  let defaulted = false;
  if (productText === '' || /^0+$/.test(productText)) {
    if (options.defaultProduct === undefined) {
      return { ok: false, code: 'no_product', reason: 'productId is 0 (no product); use --default-product ID to import it' };
    }
    productId = options.defaultProduct;
    defaulted = true;
  } else if (/^\d{1,10}$/.test(productText) && Number(productText) <= MAX_DB_ID) {
    productId = Number(productText);
  } else {
    return { ok: false, code: 'invalid_product', reason: `productId ${quote(productText)} is not a product id (1-${MAX_DB_ID})` };
  }

  const warnings: { code: WarningCode; reason: string }[] = [];
  const ipLocked = flag(row.iplocked);
  const ipText = text(row.authIP)?.trim() ?? '';
  const ips = ipText === '' ? [] : allowList(ipText);
  if (ips === null) warnings.push({ code: 'ip', reason: `authIP ${quote(ipText)} is not an IP address; dropped` });
  if (ipLocked && !ips?.length) {
    warnings.push({ code: 'ip', reason: 'IP-locked without a usable authIP: the first IP that checks it will be bound to it' });
  }

  let totalChecks = 0;
  const totalText = text(row.totalRequests)?.trim() ?? '';
  if (/^\d{1,15}$/.test(totalText)) totalChecks = Number(totalText);
  else if (totalText !== '') warnings.push({ code: 'total_requests', reason: `totalRequests ${quote(totalText)} is not a count; set to 0` });

  const lastCheckAt = epochMs(row.lastRequest);
  if (lastCheckAt === undefined) {
    warnings.push({ code: 'last_request', reason: `lastRequest ${quote(text(row.lastRequest) ?? '')} is not a time; left empty` });
  }

  const userText = text(row.userId)?.trim() ?? '';
  const owned = text(row.ownedid)?.trim() ?? '';
  const where = id === null ? 'FaxStore' : `FaxStore license #${id}`;
  return {
    ok: true,
    warnings,
    plan: {
      id,
      line: row.line,
      key,
      digest: digestKey(key),
      productId,
      productName: text(row.productName)?.trim() ?? '',
      defaulted,
      userId: userText === '' || /^0+$/.test(userText) ? null : userText,
      active: flag(row.authStatus),
      disabled: flag(row.authStatusForced),
      ipLocked,
      ips: ips ?? [],
      totalChecks,
      lastCheckAt: lastCheckAt ?? null,
      note: `Imported from ${where}${owned && !/^0+$/.test(owned) ? ` (owned item ${owned.slice(0, 40)})` : ''}`,
    },
  };
}

// Many licenses share an IP (127.0.0.1 above all): parse each distinct text once.
const allowListMemo = new Map<string, string[] | null>();

/** The canonical allow-list for an `authIP` text, or null when it is not an IP list. */
function allowList(ipText: string): string[] | null {
  let ips = allowListMemo.get(ipText);
  if (ips === undefined) {
    try {
      ips = normalizeAllowList(ipText);
    } catch {
      ips = null;
    }
    if (allowListMemo.size >= 10_000) allowListMemo.clear();
    allowListMemo.set(ipText, ips);
  }
  return ips;
}

/** A driver value as text: strings as they are, numbers/bigints in decimal, bytes as UTF-8. */
export function text(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  return String(value);
}

/** FaxStore flags are 0/1 integers; NULL, empty and anything unrecognised read as off. */
export function flag(value: unknown): boolean {
  if (value === null || value === undefined) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return value != 0;
  // BIT(1) columns arrive as a one-byte buffer.
  if (Buffer.isBuffer(value)) return value.some((b) => b !== 0);
  const v = String(value).trim().toLowerCase();
  if (/^\d+$/.test(v)) return Number(v) !== 0;
  return ['true', 'yes', 'on'].includes(v);
}

/** The FaxStore row id, as a number when it is one. */
export function rowId(value: unknown): number | string | null {
  const v = text(value)?.trim() ?? '';
  if (v === '') return null;
  return /^\d{1,15}$/.test(v) ? Number(v) : v.slice(0, 40);
}

// 10^11 ms is 1973: FaxStore never wrote times that early, so smaller numbers are seconds.
const SECONDS_BELOW = 1e11;
const MAX_TIME = Date.UTC(9999, 11, 31);

/**
 * FaxStore's `lastRequest` is `Date.now()` as a string, or '' before the first check.
 * Returns null for "never", undefined for a value that is not a time.
 */
export function epochMs(value: unknown): number | null | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.getTime();
  const v = text(value)?.trim() ?? '';
  if (v === '' || /^0+$/.test(v)) return null;
  if (/^\d{1,16}$/.test(v)) {
    const n = Number(v);
    const ms = n < SECONDS_BELOW ? n * 1000 : n;
    return ms <= MAX_TIME ? ms : undefined;
  }
  try {
    return parseIsoTime(v);
  } catch {
    return undefined;
  }
}
