import { beforeAll, expect, it } from 'vitest';
import { request } from './helpers/http.js';
import { answer, AUTHORISED, eachDialect } from './helpers/suite.js';

const NOT_AUTHORISED = answer('NOT AUTHORISED', false, 'This IP address is not authorised for this license key');

eachDialect(
  'check API: IP locks behind trusted proxies',
  (server) => {
    const keys: Record<string, string> = {};
    beforeAll(async () => {
      const s = server();
      keys.v4 = (await s.issue([8], { ipLocked: true, ips: '203.0.113.7' })).key;
      keys.cidr = (await s.issue([8], { ipLocked: true, ips: '198.51.100.0/24, 2001:db8::/32' })).key;
      keys.v6 = (await s.issue([8], { ipLocked: true, ips: ['2001:db8:1::1'] })).key;
      keys.unlocked = (await s.issue([8], { ips: ['203.0.113.7'] })).key;
    });
    const from = (key: string, headers: Record<string, string>) =>
      request(server().url, { path: '/api/check/8', headers: { Authorization: key, ...headers } }).then((r) => r.json);

    it.each([
      ['X-Real-IP allowed', 'v4', { 'X-Real-IP': '203.0.113.7' }, AUTHORISED],
      ['X-Real-IP not allowed', 'v4', { 'X-Real-IP': '203.0.113.8' }, NOT_AUTHORISED],
      ['X-Real-IP as IPv4-mapped IPv6', 'v4', { 'X-Real-IP': '::ffff:203.0.113.7' }, AUTHORISED],
      ['X-Forwarded-For single hop', 'v4', { 'X-Forwarded-For': '203.0.113.7' }, AUTHORISED],
      ['X-Real-IP wins over X-Forwarded-For', 'v4', { 'X-Real-IP': '203.0.113.7', 'X-Forwarded-For': '1.2.3.4' }, AUTHORISED],
      ['invalid X-Real-IP falls back to X-Forwarded-For', 'v4', { 'X-Real-IP': 'junk', 'X-Forwarded-For': '203.0.113.7' }, AUTHORISED],
      ['IPv4 CIDR inside', 'cidr', { 'X-Real-IP': '198.51.100.200' }, AUTHORISED],
      ['IPv4 CIDR outside', 'cidr', { 'X-Real-IP': '198.51.101.1' }, NOT_AUTHORISED],
      ['IPv6 CIDR inside', 'cidr', { 'X-Real-IP': '2001:db8:ffff::42' }, AUTHORISED],
      ['IPv6 CIDR outside', 'cidr', { 'X-Real-IP': '2001:db9::1' }, NOT_AUTHORISED],
      ['IPv6 exact (other spelling)', 'v6', { 'X-Real-IP': '2001:0db8:0001:0000:0000:0000:0000:0001' }, AUTHORISED],
      ['IPv6 exact, other address', 'v6', { 'X-Real-IP': '2001:db8:1::2' }, NOT_AUTHORISED],
      ['unlocked license ignores its IP list', 'unlocked', { 'X-Real-IP': '9.9.9.9' }, AUTHORISED],
    ])('%s', async (_, key, headers, expected) => {
      expect(await from(keys[key]!, headers)).toEqual(expected);
    });

    it('takes the nearest untrusted X-Forwarded-For hop', async () => {
      // 127.0.0.1 (the socket) is trusted; 203.0.113.7 is the first untrusted hop from the right.
      expect(await from(keys.v4!, { 'X-Forwarded-For': '6.6.6.6, 203.0.113.7' })).toEqual(AUTHORISED);
      expect(await from(keys.v4!, { 'X-Forwarded-For': '203.0.113.7, 6.6.6.6' })).toEqual(NOT_AUTHORISED);
    });

    it('binds a locked license with no IPs to its first caller, then refuses others', async () => {
      const s = server();
      const { id, key } = await s.issue([8], { ipLocked: true });
      expect(await from(key, { 'X-Real-IP': '192.0.2.10' })).toEqual(AUTHORISED);
      expect(await from(key, { 'X-Real-IP': '192.0.2.11' })).toEqual(NOT_AUTHORISED);
      expect(await from(key, { 'X-Real-IP': '192.0.2.10' })).toEqual(AUTHORISED);
      await expect.poll(async () => (await s.services.licenses.show(id)).ips, { timeout: 2000 }).toEqual(['192.0.2.10']);
      // After the cache is dropped the binding is read back from the database.
      await s.internal.storage.changes.announce('licenses');
      expect(await from(key, { 'X-Real-IP': '192.0.2.11' })).toEqual(NOT_AUTHORISED);
      const audit = await s.services.logs.audit({ action: 'license.ip_bound', targetId: String(id) });
      expect(audit).toHaveLength(1);
    });
  },
  { TRUST_PROXY: 'loopback' },
);

eachDialect('check API: proxy headers from an untrusted peer are ignored', (server) => {
  it('uses the socket address when TRUST_PROXY is unset', async () => {
    const { key } = await server().issue([8], { ipLocked: true, ips: '203.0.113.7' });
    const spoofed = await request(server().url, {
      path: '/api/check/8',
      headers: { Authorization: key, 'X-Real-IP': '203.0.113.7', 'X-Forwarded-For': '203.0.113.7' },
    });
    expect(spoofed.json).toEqual(NOT_AUTHORISED);
    const { key: local } = await server().issue([8], { ipLocked: true, ips: '127.0.0.1' });
    expect((await request(server().url, { path: '/api/check/8', headers: { Authorization: local, 'X-Real-IP': '6.6.6.6' } })).json).toEqual(AUTHORISED);
  });
});

eachDialect(
  'check API: an explicit proxy list',
  (server) => {
    it('trusts only the listed proxies when walking X-Forwarded-For', async () => {
      const { key } = await server().issue([8], { ipLocked: true, ips: '10.0.0.2' });
      // 10.0.0.2 is not in TRUST_PROXY, so it is the nearest untrusted hop and the caller.
      const res = await request(server().url, { path: '/api/check/8', headers: { Authorization: key, 'X-Forwarded-For': '6.6.6.6, 10.0.0.2' } });
      expect(res.json).toEqual(AUTHORISED);
    });
  },
  { TRUST_PROXY: '127.0.0.1/8, 192.168.0.0/16' },
);
