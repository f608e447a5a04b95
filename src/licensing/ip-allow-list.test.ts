import { describe, expect, it } from 'vitest';
import { compileAllowList, customerAllowListProblem, ipAllowed, normalizeAllowList, normalizeIp, parseAllowEntry, parseIp } from './ip-allow-list.js';

describe('parseIp / normalizeIp', () => {
  it.each([
    ['1.2.3.4', '1.2.3.4', 'ipv4'],
    [' 10.0.0.1 ', '10.0.0.1', 'ipv4'],
    ['0.0.0.0', '0.0.0.0', 'ipv4'],
    ['255.255.255.255', '255.255.255.255', 'ipv4'],
    ['::1', '::1', 'ipv6'],
    ['::', '::', 'ipv6'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1', 'ipv6'],
    ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1', 'ipv6'],
    ['fe80:0:0:0:0:0:0:abcd', 'fe80::abcd', 'ipv6'],
    ['::ffff:1.2.3.4', '1.2.3.4', 'ipv4'],
    ['::FFFF:1.2.3.4', '1.2.3.4', 'ipv4'],
    ['::ffff:102:304', '1.2.3.4', 'ipv4'],
    ['0:0:0:0:0:ffff:7f00:1', '127.0.0.1', 'ipv4'],
  ])('%j is %s (%s)', (text, canonical, kind) => {
    const addr = parseIp(text);
    expect(addr?.toString()).toBe(canonical);
    expect(addr?.kind()).toBe(kind);
    expect(normalizeIp(text)).toBe(canonical);
  });

  it.each([
    ['0x7f.1'],
    ['0x7f.0.0.1'],
    ['1.2.3'],
    ['127.1'],
    ['2130706433'],
    ['01.2.3.4'],
    ['0177.0.0.1'],
    ['1.2.3.4.5'],
    ['256.1.1.1'],
    ['1.2.3.-4'],
    ['1.2.3.4/32'],
    ['1::2::3'],
    ['12345::1'],
    ['::ffff:1.2.3'],
    ['localhost'],
    ['garbage'],
    [''],
    ['   '],
  ])('rejects %j', (text) => {
    expect(parseIp(text)).toBeNull();
  });

  it('returns anything that is not an IP unchanged', () => {
    expect(normalizeIp('unknown')).toBe('unknown');
    expect(normalizeIp('0x7f.1')).toBe('0x7f.1');
    expect(normalizeIp('')).toBe('');
  });

  // Regression guard, was a bug (ip-allow-list.ts, parseIp): bare IPv4 in hex or with leading zeros is rejected as
  // ambiguous, but the same text behind an IPv4-mapped prefix is accepted by ipaddr.js's IPv6
  // parser and turned into some address: `::ffff:0x7f.0.0.1` → 127.0.0.1 (hex honoured) while
  // `::ffff:0177.0.0.1` → 177.0.0.1 (leading zero ignored, not octal). Expected: both rejected,
  // like `0x7f.0.0.1` and `0177.0.0.1` are.
  it('rejects ambiguous IPv4 forms behind an IPv4-mapped prefix too', () => {
    expect(parseIp('::ffff:0x7f.0.0.1')).toBeNull();
    expect(parseIp('::ffff:0177.0.0.1')).toBeNull();
  });
});

describe('normalizeAllowList', () => {
  it('gives the canonical form of each address', () => {
    expect(normalizeAllowList(['1.2.3.4', '2001:DB8:0:0:0:0:0:1', '::ffff:5.6.7.8'])).toEqual(['1.2.3.4', '2001:db8::1', '5.6.7.8']);
  });

  it('reads a comma-separated string, trimming and skipping empty entries', () => {
    expect(normalizeAllowList(' 1.2.3.4 ,, 10.0.0.0/8 ,')).toEqual(['1.2.3.4', '10.0.0.0/8']);
    expect(normalizeAllowList('')).toEqual([]);
    expect(normalizeAllowList([])).toEqual([]);
    expect(normalizeAllowList(['  ', ''])).toEqual([]);
  });

  it.each([
    ['10.1.2.3/8', '10.0.0.0/8'],
    ['192.168.1.77/24', '192.168.1.0/24'],
    ['172.16.200.1/12', '172.16.0.0/12'],
    ['1.2.3.4/0', '0.0.0.0/0'],
    ['1.2.3.4/31', '1.2.3.4/31'],
    ['1.2.3.5/31', '1.2.3.4/31'],
    ['1.2.3.4/32', '1.2.3.4'],
    ['2001:db8:abcd::1/32', '2001:db8::/32'],
    ['2001:DB8::FFFF/64', '2001:db8::/64'],
    ['::1/128', '::1'],
    ['fe80::1/10', 'fe80::/10'],
    ['::/0', '::/0'],
    ['::ffff:10.1.2.3/104', '10.0.0.0/8'],
    ['::ffff:1.2.3.4/128', '1.2.3.4'],
  ])('stores the block %j as %j', (entry, canonical) => {
    expect(normalizeAllowList([entry])).toEqual([canonical]);
  });

  it('drops duplicates after normalising, keeping the first position', () => {
    expect(normalizeAllowList('10.1.2.3/8, 1.1.1.1, 10.0.0.0/8, ::ffff:1.1.1.1, 10.200.0.0/8, 2001:db8::1, 2001:DB8:0::1')).toEqual([
      '10.0.0.0/8',
      '1.1.1.1',
      '2001:db8::1',
    ]);
  });

  it('throws a message naming every bad entry and no good one', () => {
    let message = '';
    try {
      normalizeAllowList(['1.2.3.4', 'nope', '10.0.0.0/33', '0x7f.1', '2001:db8::/129', '5.6.7.8']);
    } catch (err) {
      message = (err as Error).message;
    }
    for (const bad of ['nope', '10.0.0.0/33', '0x7f.1', '2001:db8::/129']) expect(message).toContain(`"${bad}"`);
    expect(message).not.toContain('1.2.3.4');
    expect(message).not.toContain('5.6.7.8');
  });

  it.each([
    ['1.2.3.4/33'],
    ['1.2.3.4/-1'],
    ['1.2.3.4/'],
    ['1.2.3.4/ 8'],
    ['1.2.3.4/8.0'],
    ['1.2.3.4/0x8'],
    ['1.2.3.4/1000'],
    ['1.2.3.4/8/8'],
    ['::1/129'],
    ['::1/'],
    ['::ffff:1.2.3.4/64'],
  ])('rejects the bad prefix length in %j', (entry) => {
    expect(() => normalizeAllowList([entry])).toThrow(/prefix length/);
  });

  it.each([['1.2.3'], ['0x7f.1'], ['01.2.3.4'], ['abc/8'], ['/8'], ['1.2.3.4-1.2.3.9'], ['*']])('rejects the bad address %j', (entry) => {
    expect(() => normalizeAllowList(entry)).toThrow(/not an IPv4\/IPv6 address or CIDR block/);
  });

  it('does not echo a bad entry long enough to be a license key', () => {
    const key = 'Ab3_'.repeat(11) + 'Z'; // 45 characters, the default key look
    expect(() => normalizeAllowList(['1.2.3.4', key])).toThrow(/45 characters/);
    expect(() => normalizeAllowList([key])).not.toThrow(key);
  });

  it('names the IPv4 and IPv6 prefix ranges in its messages', () => {
    expect(parseAllowEntry('1.2.3.4/40')).toBe('"1.2.3.4/40" has an invalid prefix length (0-32)');
    expect(parseAllowEntry('::1/200')).toBe('"::1/200" has an invalid prefix length (0-128)');
  });
});

describe('ipAllowed', () => {
  const allowed = (entries: string[], ip: string) => ipAllowed(compileAllowList(entries), ip);

  it('matches single IPv4 addresses exactly', () => {
    expect(allowed(['1.2.3.4'], '1.2.3.4')).toBe(true);
    expect(allowed(['1.2.3.4'], '1.2.3.5')).toBe(false);
  });

  it('matches IPv4 CIDR blocks at their edges', () => {
    const list = ['10.0.0.0/8', '192.168.1.0/24'];
    expect(allowed(list, '10.0.0.0')).toBe(true);
    expect(allowed(list, '10.255.255.255')).toBe(true);
    expect(allowed(list, '11.0.0.0')).toBe(false);
    expect(allowed(list, '9.255.255.255')).toBe(false);
    expect(allowed(list, '192.168.1.255')).toBe(true);
    expect(allowed(list, '192.168.2.0')).toBe(false);
  });

  it('matches everything with /0 of the same family only', () => {
    expect(allowed(['0.0.0.0/0'], '203.0.113.9')).toBe(true);
    expect(allowed(['0.0.0.0/0'], '2001:db8::1')).toBe(false);
    expect(allowed(['::/0'], '2001:db8::1')).toBe(true);
    expect(allowed(['::/0'], '203.0.113.9')).toBe(false);
  });

  it('matches IPv6 addresses and CIDR blocks', () => {
    const list = ['2001:db8::/32', 'fe80::1'];
    expect(allowed(list, '2001:db8::1')).toBe(true);
    expect(allowed(list, '2001:DB8:FFFF:ffff:ffff:ffff:ffff:ffff')).toBe(true);
    expect(allowed(list, '2001:db9::1')).toBe(false);
    expect(allowed(list, 'fe80::1')).toBe(true);
    expect(allowed(list, 'fe80:0:0:0:0:0:0:1')).toBe(true);
    expect(allowed(list, 'fe80::2')).toBe(false);
  });

  it('treats an IPv4-mapped caller as its IPv4 address', () => {
    expect(allowed(['1.2.3.4'], '::ffff:1.2.3.4')).toBe(true);
    expect(allowed(['10.0.0.0/8'], '::ffff:10.9.8.7')).toBe(true);
    expect(allowed(['10.0.0.0/8'], '::ffff:11.0.0.1')).toBe(false);
  });

  it('matches either family in a mixed list', () => {
    const list = normalizeAllowList('203.0.113.0/24, 2001:db8::/48, 198.51.100.7, ::ffff:192.0.2.0/120');
    expect(list).toEqual(['203.0.113.0/24', '2001:db8::/48', '198.51.100.7', '192.0.2.0/24']);
    const ranges = compileAllowList(list);
    expect(ipAllowed(ranges, '203.0.113.200')).toBe(true);
    expect(ipAllowed(ranges, '2001:db8:0:ffff::1')).toBe(true);
    expect(ipAllowed(ranges, '2001:db8:1::1')).toBe(false);
    expect(ipAllowed(ranges, '198.51.100.7')).toBe(true);
    expect(ipAllowed(ranges, '198.51.100.8')).toBe(false);
    expect(ipAllowed(ranges, '192.0.2.99')).toBe(true);
    expect(ipAllowed(ranges, '::ffff:192.0.2.99')).toBe(true);
  });

  it('allows nothing for an empty list or a caller that is not an IP', () => {
    expect(allowed([], '1.2.3.4')).toBe(false);
    expect(allowed(['0.0.0.0/0', '::/0'], 'unknown')).toBe(false);
    expect(allowed(['0.0.0.0/0', '::/0'], '')).toBe(false);
  });

  it('ignores stored entries that no longer parse, keeping the rest', () => {
    const ranges = compileAllowList(['junk', '1.2.3.4', '10.0.0.0/99']);
    expect(ranges).toHaveLength(1);
    expect(ipAllowed(ranges, '1.2.3.4')).toBe(true);
    expect(ipAllowed(ranges, '10.0.0.1')).toBe(false);
  });
});

describe('customerAllowListProblem', () => {
  it.each([[[]], [['203.0.113.7']], [['198.51.100.0/24', '2001:db8:1::/48', '2001:db8::1', '10.1.2.0/25', '192.0.2.1']]])('%j is allowed', (entries) => {
    expect(customerAllowListProblem(normalizeAllowList(entries))).toBeNull();
  });

  it.each([
    ['0.0.0.0/0', '"0.0.0.0/0"'],
    ['::/0', '"::/0"'],
    ['10.0.0.0/23', '"10.0.0.0/23"'],
    ['2001:db8::/47', '"2001:db8::/47"'],
    ['::ffff:0.0.0.0/96', '"0.0.0.0/0"'],
  ])('%s is too wide', (entry, named) => {
    const problem = customerAllowListProblem(normalizeAllowList([entry]));
    expect(problem).toContain(named);
    expect(problem).toContain('at most /24 for IPv4, /48 for IPv6');
  });

  it('refuses more than 5 entries', () => {
    const six = ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4', '192.0.2.5', '192.0.2.6'];
    expect(customerAllowListProblem(six)).toContain('at most 5');
    expect(customerAllowListProblem(six.slice(0, 5))).toBeNull();
  });
});
