import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import { checkTargetUrl, isPublicAddress, PrivateAddressError, publicOnlyLookup, shownUrl } from './webhook-target.js';

/** Runs the lookup against a resolver that answers `addresses`, in both forms sockets ask for. */
function resolveWith(addresses: LookupAddress[], all: boolean): Promise<{ err: Error | null; address: unknown; family?: number }> {
  const lookup = publicOnlyLookup((_host, _options, callback) => callback(null, addresses));
  return new Promise((resolve) => lookup('hooks.example.com', { all }, (err, address, family) => resolve({ err, address, family })));
}

describe('webhook targets', () => {
  it.each([
    ['93.184.216.34', true],
    ['2606:2800:220:1:248:1893:25c8:1946', true],
    ['127.0.0.1', false],
    ['10.1.2.3', false],
    ['172.31.255.255', false],
    ['192.168.0.1', false],
    ['169.254.169.254', false],
    ['100.64.0.1', false],
    ['0.0.0.0', false],
    ['255.255.255.255', false],
    ['224.0.0.1', false],
    ['::1', false],
    ['::', false],
    ['fe80::1', false],
    ['fd00::1', false],
    ['ff02::1', false],
    ['::ffff:127.0.0.1', false],
    ['::ffff:93.184.216.34', true],
    ['64:ff9b::a00:1', false],
    ['not an address', false],
  ])('%s is public: %s', (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });

  it('a name that resolves to any private address is refused, whichever form the socket asks for', async () => {
    const mixed = [
      { address: '93.184.216.34', family: 4 },
      { address: '127.0.0.1', family: 4 },
    ];
    for (const all of [true, false]) expect((await resolveWith(mixed, all)).err).toBeInstanceOf(PrivateAddressError);
  });

  it('a name that resolves to public addresses only gets exactly those addresses', async () => {
    const good = [
      { address: '93.184.216.34', family: 4 },
      { address: '2606:2800:220:1:248:1893:25c8:1946', family: 6 },
    ];
    expect(await resolveWith(good, true)).toEqual({ err: null, address: good, family: undefined });
    expect(await resolveWith(good, false)).toEqual({ err: null, address: '93.184.216.34', family: 4 });
  });

  it('allows private targets only when told to', () => {
    expect(() => checkTargetUrl('http://192.168.1.20:8080/hook', false)).toThrow(/private/);
    expect(checkTargetUrl('http://192.168.1.20:8080/hook', true)).toBe('http://192.168.1.20:8080/hook');
    expect(() => checkTargetUrl('https://a:b@hooks.example.com/', true)).toThrow(/user name or password/);
  });

  it('shows stored credentials as ***', () => {
    expect(shownUrl('https://a:b@hooks.example.com/x?y=1')).toBe('https://***@hooks.example.com/x?y=1');
    expect(shownUrl('https://hooks.example.com/x?mail=a@b')).toBe('https://hooks.example.com/x?mail=a@b');
  });
});
