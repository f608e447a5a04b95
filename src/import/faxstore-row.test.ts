import { describe, expect, it } from 'vitest';
import { digestKey } from '../licensing/key.js';
import { epochMs, flag, mapFaxStoreRow, type FaxStoreRow } from './faxstore-row.js';

const KEY = 'aB3-_xYz0123456789aB3-_xYz0123456789aB3-_xYz01';
const row = (patch: FaxStoreRow = {}): FaxStoreRow => ({
  id: 7,
  userId: '123456789012345678',
  productName: 'Script',
  productId: 8,
  authStatus: 1,
  totalRequests: 12,
  lastRequest: '1735689600000',
  authIP: '127.0.0.1',
  authKey: KEY,
  authStatusForced: 0,
  iplocked: 0,
  ownedid: 3,
  ...patch,
});

describe('mapFaxStoreRow', () => {
  it('keeps the exact key (as its digest), product, owner, flags, IP and counters', () => {
    const r = mapFaxStoreRow(row());
    expect(r).toMatchObject({
      ok: true,
      warnings: [],
      plan: {
        id: 7,
        key: KEY,
        digest: digestKey(KEY),
        productId: 8,
        productName: 'Script',
        defaulted: false,
        userId: '123456789012345678',
        active: true,
        disabled: false,
        ipLocked: false,
        ips: ['127.0.0.1'],
        totalChecks: 12,
        lastCheckAt: 1735689600000,
        note: 'Imported from FaxStore license #7 (owned item 3)',
      },
    });
  });

  it('maps authStatus to active, authStatusForced to disabled, iplocked to the IP lock', () => {
    const r = mapFaxStoreRow(row({ authStatus: 0, authStatusForced: 1, iplocked: 1, authIP: '203.0.113.9' }));
    expect(r.ok && r.plan).toMatchObject({ active: false, disabled: true, ipLocked: true, ips: ['203.0.113.9'] });
  });

  it('skips empty, short, spaced and over-long keys, never echoing the key', () => {
    for (const authKey of [null, '', '   ', 'short', 'has a space in the middle', 'x'.repeat(257), 'tab\there-is-a-key']) {
      const r = mapFaxStoreRow(row({ authKey }));
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.code).toBe('invalid_key');
        if (authKey && authKey.length > 8) expect(r.reason).not.toContain(authKey);
      }
    }
  });

  it('trims whitespace around a key, as the check API trims the Authorization header', () => {
    const r = mapFaxStoreRow(row({ authKey: `  ${KEY}\n` }));
    expect(r.ok && r.plan.key).toBe(KEY);
  });

  it('skips productId 0 unless a default product is given; refuses ids out of range', () => {
    expect(mapFaxStoreRow(row({ productId: 0 }))).toMatchObject({ ok: false, code: 'no_product' });
    expect(mapFaxStoreRow(row({ productId: '' }))).toMatchObject({ ok: false, code: 'no_product' });
    expect(mapFaxStoreRow(row({ productId: 0 }), { defaultProduct: 5 })).toMatchObject({ ok: true, plan: { productId: 5, defaulted: true } });
    expect(mapFaxStoreRow(row({ productId: -5 }))).toMatchObject({ ok: false, code: 'invalid_product' });
    expect(mapFaxStoreRow(row({ productId: '2147483648' }))).toMatchObject({ ok: false, code: 'invalid_product' });
    expect(mapFaxStoreRow(row({ productId: '2147483647' }))).toMatchObject({ ok: true, plan: { productId: 2147483647 } });
  });

  it('drops an unusable IP with a warning; a locked license without one binds its first caller', () => {
    const bad = mapFaxStoreRow(row({ authIP: 'not-an-ip', iplocked: 1 }));
    expect(bad.ok && bad.plan.ips).toEqual([]);
    expect(bad.ok && bad.warnings.map((w) => w.code)).toEqual(['ip', 'ip']);
    const none = mapFaxStoreRow(row({ authIP: null, iplocked: 1 }));
    expect(none.ok && none.warnings.map((w) => w.reason)).toEqual([expect.stringContaining('first IP')]);
    expect(mapFaxStoreRow(row({ authIP: null, iplocked: 0 }))).toMatchObject({ ok: true, warnings: [] });
    expect(mapFaxStoreRow(row({ authIP: '::ffff:1.2.3.4, 10.0.0.0/8' }))).toMatchObject({ ok: true, plan: { ips: ['1.2.3.4', '10.0.0.0/8'] } });
  });

  it('reads a missing or bad totalRequests as 0', () => {
    expect(mapFaxStoreRow(row({ totalRequests: null }))).toMatchObject({ ok: true, warnings: [], plan: { totalChecks: 0 } });
    expect(mapFaxStoreRow(row({ totalRequests: 'lots' }))).toMatchObject({ ok: true, plan: { totalChecks: 0 }, warnings: [{ code: 'total_requests' }] });
  });

  it('treats empty or zero user ids as no owner', () => {
    for (const userId of [null, '', ' ', '0']) expect(mapFaxStoreRow(row({ userId }))).toMatchObject({ ok: true, plan: { userId: null } });
  });
});

describe('epochMs (lastRequest)', () => {
  it('reads FaxStore epoch-ms strings, seconds, dates; empty means never', () => {
    expect(epochMs('1735689600000')).toBe(1735689600000);
    expect(epochMs(1735689600000)).toBe(1735689600000);
    expect(epochMs('1735689600')).toBe(1735689600000);
    expect(epochMs('2025-01-01 00:00:00')).toBe(Date.UTC(2025, 0, 1));
    expect(epochMs(new Date(5))).toBe(5);
    for (const never of ['', '  ', null, undefined, '0']) expect(epochMs(never)).toBeNull();
    for (const bad of ['yesterday', '99999999999999999', '-5']) expect(epochMs(bad)).toBeUndefined();
  });
});

describe('flag', () => {
  it('reads the ways MySQL drivers and CSV files write 0/1', () => {
    for (const on of [1, '1', ' 1 ', true, 'true', 2, Buffer.from([1]), 1n]) expect(flag(on)).toBe(true);
    for (const off of [0, '0', '', null, undefined, false, 'false', Buffer.from([0]), 'nonsense']) expect(flag(off)).toBe(false);
  });
});
