import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { KeywardError } from '../errors.js';
import { LIMITS } from '../licensing/schemas/limits.js';

/**
 * Where webhooks may be sent (docs/api.md#webhook-targets). Unless WEBHOOK_ALLOW_PRIVATE is on, only
 * to public addresses: a URL written as an address is checked when it is registered and before each
 * delivery; a name is checked after DNS, as each delivery's socket resolves it.
 */

/** What the delivery log records for a refused target: the same whether anything listens there or not. */
export const REFUSED_PRIVATE = 'refused: private address';
export const REFUSED_CREDENTIALS = 'refused: credentials in the URL';

/** A global unicast address (IPv4-mapped IPv6 judged as its IPv4 address); anything else is private here. */
export function isPublicAddress(address: string): boolean {
  if (!isIP(address)) return false;
  return ipaddr.process(address).range() === 'unicast';
}

/** The address a URL's host is written as (WHATWG URLs have already decoded `2130706433`, `0x7f.1`, …), or null for a name. */
function hostAddress(url: URL): string | null {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return isIP(host) ? host : null;
}

/** `localhost` and its subdomains always mean this machine, whatever DNS says. */
const isLocalhostName = (hostname: string): boolean => /(^|\.)localhost\.?$/i.test(hostname);

/** Why a URL must not be sent to, judged without resolving its name (see REFUSED_*), or null. */
export function targetRefusal(url: URL, allowPrivate: boolean): string | null {
  if (url.username || url.password) return REFUSED_CREDENTIALS;
  if (allowPrivate) return null;
  const address = hostAddress(url);
  return address !== null && !isPublicAddress(address) ? REFUSED_PRIVATE : null;
}

/** A target URL as registered (API, CLI): absolute http(s), no credentials, not written as a private address. */
export function checkTargetUrl(value: string, allowPrivate: boolean): string {
  const text = value?.trim() ?? '';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new KeywardError('invalid_input', 'a webhook URL is an absolute http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new KeywardError('invalid_input', 'a webhook URL is an absolute http:// or https:// URL');
  if (text.length > LIMITS.webhook.url.max) throw new KeywardError('invalid_input', `url is at most ${LIMITS.webhook.url.max} characters`);
  // A name is resolved at each delivery; only `localhost` is known to be private already.
  const refused = targetRefusal(url, allowPrivate) ?? (!allowPrivate && isLocalhostName(url.hostname) ? REFUSED_PRIVATE : null);
  switch (refused) {
    case REFUSED_CREDENTIALS:
      throw new KeywardError('invalid_input', 'the webhook url must not contain a user name or password (receivers check the signature instead)');
    case REFUSED_PRIVATE:
      throw new KeywardError(
        'invalid_input',
        `the webhook url points at ${url.hostname}, a private, loopback or link-local address; webhooks go to public addresses only, unless the server sets WEBHOOK_ALLOW_PRIVATE=true`,
      );
  }
  return url.toString();
}

/** A stored URL as readers see it: credentials (only in endpoints registered before they were refused) become `***`. */
export function shownUrl(stored: string): string {
  if (!stored.includes('@')) return stored;
  try {
    const url = new URL(stored);
    if (!url.username && !url.password) return stored;
    url.username = '***';
    url.password = '';
    return url.toString();
  } catch {
    return stored;
  }
}

/** The error a delivery's socket fails with when a name resolves to a private address. */
export class PrivateAddressError extends Error {
  override name = 'PrivateAddressError';
  readonly code = 'EPRIVATEADDRESS';
  constructor() {
    super(REFUSED_PRIVATE);
  }
}

type Resolver = (hostname: string, options: LookupAllOptions, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

/**
 * A socket `lookup` that resolves as usual and fails unless every address is public. The socket
 * connects to the addresses checked here and resolves nothing else, so a DNS answer that changes
 * between a check and the connection (rebinding) cannot slip a private address in.
 */
export function publicOnlyLookup(resolve: Resolver = dnsLookup): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      if (addresses.some((a) => !isPublicAddress(a.address))) return callback(new PrivateAddressError(), '');
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}
