import type { IncomingMessage } from 'node:http';
import proxyaddr from '@fastify/proxy-addr';
import { normalizeIp, parseIp } from '../licensing/ip-allow-list.js';

export type ClientIpResolver = (req: IncomingMessage) => string;

/**
 * The caller's IP: the socket address, unless TRUST_PROXY trusts it; then X-Real-IP, else the
 * nearest untrusted X-Forwarded-For hop, each only if it is an IP address: anything else (a port,
 * a name, garbage) is not taken for the caller, who is then the socket address. IPv4-mapped IPv6
 * comes out as plain IPv4.
 */
export function clientIpResolver(trustProxy: string | undefined): ClientIpResolver {
  const socketIp = (req: IncomingMessage) => normalizeIp(req.socket.remoteAddress ?? '');
  const list = (trustProxy ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) return socketIp;
  let trust: (addr: string, i: number) => boolean;
  try {
    trust = proxyaddr.compile(list);
  } catch (err) {
    throw new Error(`TRUST_PROXY: ${(err as Error).message}`);
  }
  return (req) => {
    const remote = req.socket.remoteAddress ?? '';
    if (!trust(remote, 0)) return socketIp(req);
    const realIp = req.headers['x-real-ip'];
    const fromHeader = (typeof realIp === 'string' && parseIp(realIp)) || parseIp(proxyaddr(req, trust));
    // Not an IP: stored, used as a brake key or bound to an IP-locked license, it would be wrong.
    return fromHeader ? fromHeader.toString() : socketIp(req);
  };
}
