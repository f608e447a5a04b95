import ipaddr from 'ipaddr.js';
import { LIMITS } from './schemas/limits.js';
import { quote } from './values.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
export type IpRange = [Address, number];

/** Parses a caller or allow-list address; IPv4-mapped IPv6 becomes the IPv4 address. Null if invalid. */
export function parseIp(value: string): Address | null {
  const text = value.trim();
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (!text.includes(':') || !ipaddr.IPv6.isValid(text)) return null;
  // A dotted tail (::ffff:1.2.3.4) must be plain four-part decimal too, as bare IPv4 must be.
  if (text.includes('.') && !ipaddr.IPv4.isValidFourPartDecimal(text.slice(text.lastIndexOf(':') + 1))) return null;
  const v6 = ipaddr.IPv6.parse(text);
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6;
}

/** Canonical text of a caller IP (what Previous Auths and `lastIp` store), or the input if not an IP. */
export function normalizeIp(value: string): string {
  // Fast paths for what sockets report: dotted IPv4 is already canonical; mapped IPv4 loses its prefix.
  if (value.length <= 15 && DOTTED.test(value)) return value;
  if (value.startsWith('::ffff:') && DOTTED.test(value.slice(7))) return value.slice(7);
  return parseIp(value)?.toString() ?? value;
}

const DOTTED = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** Parses one allow-list entry: an address or a CIDR block. Returns the range, or an error message. */
export function parseAllowEntry(entry: string): IpRange | string {
  const text = entry.trim();
  const slash = text.indexOf('/');
  const addr = parseIp(slash === -1 ? text : text.slice(0, slash));
  if (!addr) return `${quote(entry)} is not an IPv4/IPv6 address or CIDR block`;
  const max = addr.kind() === 'ipv4' ? 32 : 128;
  let bits = max;
  if (slash !== -1) {
    const bitsText = text.slice(slash + 1);
    bits = /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : -1;
    // An IPv4-mapped block (::ffff:a.b.c.d/n) was turned into IPv4 above; shift its prefix to match.
    if (addr.kind() === 'ipv4' && text.slice(0, slash).includes(':')) bits -= 96;
    if (bits < 0 || bits > max) return `${quote(entry)} has an invalid prefix length (0-${max})`;
  }
  return [addr, bits];
}

/** Canonical text for an entry: the address, or the network address and prefix of a block. */
export function formatRange([addr, bits]: IpRange): string {
  const max = addr.kind() === 'ipv4' ? 32 : 128;
  if (bits === max) return addr.toString();
  const network =
    addr.kind() === 'ipv4'
      ? ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/${bits}`)
      : ipaddr.IPv6.networkAddressFromCIDR(`${addr.toString()}/${bits}`);
  return `${network.toString()}/${bits}`;
}

/**
 * Validates a list of allow-list entries (from a comma-separated string or an array) and returns
 * them in canonical form, without duplicates. Throws a message naming every bad entry.
 */
export function normalizeAllowList(input: string | readonly string[]): string[] {
  const entries = (typeof input === 'string' ? input.split(',') : [...input]).map((s) => s.trim()).filter(Boolean);
  const out: string[] = [];
  const errors: string[] = [];
  for (const entry of entries) {
    const range = parseAllowEntry(entry);
    if (typeof range === 'string') errors.push(range);
    else {
      const text = formatRange(range);
      if (!out.includes(text)) out.push(text);
    }
  }
  if (errors.length) throw new Error(errors.join('; '));
  return out;
}

/**
 * What a customer may put in their own license's allow-list: a few entries, each a single address
 * or a block no wider than a typical hosting subnet. Staff set anything (docs/dashboard.md).
 */
export const CUSTOMER_ALLOW_LIST = LIMITS.license.customerAllowList;

/** Why a customer may not set this (canonical) allow-list, or null when they may. */
export function customerAllowListProblem(entries: readonly string[]): string | null {
  const { maxEntries, minPrefix } = CUSTOMER_ALLOW_LIST;
  if (entries.length > maxEntries) return `you may list at most ${maxEntries} IPs or blocks (ask staff for more)`;
  const wide = entries.filter((entry) => {
    const range = parseAllowEntry(entry);
    return typeof range !== 'string' && range[1] < minPrefix[range[0].kind()];
  });
  if (wide.length === 0) return null;
  return (
    `${wide.map(quote).join(', ')} ${wide.length === 1 ? 'is' : 'are'} wider than customers may set ` +
    `(at most /${minPrefix.ipv4} for IPv4, /${minPrefix.ipv6} for IPv6; ask staff for a wider block)`
  );
}

/** Compiles a stored allow-list for fast matching; entries that no longer parse are ignored. */
export function compileAllowList(entries: readonly string[]): IpRange[] {
  const ranges: IpRange[] = [];
  for (const entry of entries) {
    const range = parseAllowEntry(entry);
    if (typeof range !== 'string') ranges.push(range);
  }
  return ranges;
}

export function ipAllowed(ranges: readonly IpRange[], ip: string): boolean {
  const addr = parseIp(ip);
  if (!addr) return false;
  const kind = addr.kind();
  for (const range of ranges) {
    if (range[0].kind() === kind && (addr as ipaddr.IPv4).match(range as [ipaddr.IPv4, number])) return true;
  }
  return false;
}
