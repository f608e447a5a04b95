import { beforeEach, describe, expect, it } from 'vitest';
import { LicenseChecker, type CheckRecord, type CheckRecorder, type CheckRequest, type LicenseSource } from './check-license.js';
import { compileAllowList } from './ip-allow-list.js';
import type { CheckStatus, LicenseSnapshot } from './validate-license.js';

const NOW = Date.UTC(2030, 5, 1);
const DAY = 86_400_000;

/** In-memory LicenseSource: a product set and licenses by key; bindIp updates the license like the cache does. */
class FakeSource implements LicenseSource {
  readonly products = new Set<number>();
  readonly licenses = new Map<string, LicenseSnapshot>();
  readonly lookups: string[] = [];
  readonly binds: Array<{ id: number; ip: string }> = [];

  constructor(private readonly async = false) {}

  productIds(): ReadonlySet<number> | Promise<ReadonlySet<number>> {
    return this.async ? Promise.resolve(this.products) : this.products;
  }

  findByKey(key: string): LicenseSnapshot | null | Promise<LicenseSnapshot | null> {
    this.lookups.push(key);
    const found = this.licenses.get(key) ?? null;
    return this.async ? Promise.resolve(found) : found;
  }

  bindIp(license: LicenseSnapshot, ip: string): void {
    this.binds.push({ id: license.id, ip });
    license.ips = [ip];
    license.ranges = compileAllowList(license.ips);
  }

  // Plain licenses track no machines and have no first-use clock: the checker never calls these.
  activateMachine(): never {
    throw new Error('a plain license activated a machine');
  }

  deactivateMachine(): never {
    throw new Error('a plain license deactivated a machine');
  }

  startFirstUse(): never {
    throw new Error('a plain license started a first-use clock');
  }

  use(): never {
    throw new Error('a check counted usage');
  }

  uses(): never {
    throw new Error('a check read the usage counter');
  }

  issueFile(): never {
    throw new Error('a check issued a license file');
  }

  add(key: string, overrides: Partial<Omit<LicenseSnapshot, 'ranges'>> & { id: number }): LicenseSnapshot {
    const base = { productIds: [8], active: true, disabled: false, ipLocked: false, ips: [] as string[], expiresAt: null, ...overrides };
    const snapshot: LicenseSnapshot = { ...base, ranges: compileAllowList(base.ips) };
    this.licenses.set(key, snapshot);
    return snapshot;
  }
}

class FakeRecorder implements CheckRecorder {
  readonly entries: Array<{ entry: CheckRecord; log: boolean }> = [];
  record(entry: CheckRecord, log: boolean): void {
    this.entries.push({ entry, log });
  }
}

let source: FakeSource;
let recorder: FakeRecorder;
let checker: LicenseChecker;

function request(overrides: Partial<CheckRequest>): CheckRequest {
  return { productIds: [8], key: 'KEY-A', ip: '1.2.3.4', info: null, log: true, userAgent: null, ...overrides };
}

beforeEach(() => {
  source = new FakeSource();
  recorder = new FakeRecorder();
  checker = new LicenseChecker(source, recorder, () => NOW);
  for (const id of [8, 16, 32, 64]) source.products.add(id);
  source.add('KEY-A', { id: 1, productIds: [8] });
  source.add('KEY-BUNDLE', { id: 2, productIds: [16, 32] });
});

describe('LicenseChecker: single check', () => {
  it('authorises a key granting the product', async () => {
    expect(await checker.check(request({ productIds: [8], key: 'KEY-A' }))).toEqual({ status: 'AUTHORISED', productId: 8 });
  });

  it('authorises each product of a bundle', async () => {
    expect(await checker.check(request({ productIds: [16], key: 'KEY-BUNDLE' }))).toEqual({ status: 'AUTHORISED', productId: 16 });
    expect(await checker.check(request({ productIds: [32], key: 'KEY-BUNDLE' }))).toEqual({ status: 'AUTHORISED', productId: 32 });
  });

  it('says NOT FOUND (product) for an unknown product, before looking at the key', async () => {
    expect(await checker.check(request({ productIds: [999], key: 'KEY-A' }))).toEqual({ status: 'NOT FOUND', reason: 'product', productId: null });
    expect(await checker.check(request({ productIds: [], key: 'KEY-A' }))).toEqual({ status: 'NOT FOUND', reason: 'product', productId: null });
    expect(source.lookups).toEqual([]);
  });

  it('says NOT FOUND (key) for an unknown key or no key', async () => {
    const unknown = { status: 'NOT FOUND', reason: 'key', productId: null };
    expect(await checker.check(request({ key: 'NO-SUCH-KEY' }))).toEqual(unknown);
    expect(await checker.check(request({ key: null }))).toEqual(unknown);
  });

  it('answers a key that does not grant the product exactly like an unknown key', async () => {
    const unknownKey = await checker.check(request({ productIds: [64], key: 'NO-SUCH-KEY' }));
    const notGranted = await checker.check(request({ productIds: [64], key: 'KEY-A' }));
    expect(notGranted).toEqual(unknownKey);
    expect(notGranted).toEqual({ status: 'NOT FOUND', reason: 'key', productId: null });
  });

  it('answers a not-granting key like an unknown key even when that license is disabled or expired', async () => {
    source.add('KEY-DISABLED', { id: 3, productIds: [8], disabled: true });
    source.add('KEY-EXPIRED', { id: 4, productIds: [8], expiresAt: NOW - DAY });
    const unknownKey = await checker.check(request({ productIds: [64], key: 'NO-SUCH-KEY' }));
    expect(await checker.check(request({ productIds: [64], key: 'KEY-DISABLED' }))).toEqual(unknownKey);
    expect(await checker.check(request({ productIds: [64], key: 'KEY-EXPIRED' }))).toEqual(unknownKey);
  });

  it.each<[CheckStatus, Partial<LicenseSnapshot>]>([
    ['KEY DISABLED', { disabled: true }],
    ['NOT ACTIVE', { active: false }],
    ['NOT AUTHORISED', { ipLocked: true, ips: ['9.9.9.9'] }],
  ])('reports %s with the product id', async (status, overrides) => {
    source.add('KEY-X', { id: 5, productIds: [8], ...overrides });
    expect(await checker.check(request({ key: 'KEY-X' }))).toEqual({ status, productId: 8 });
  });

  it('reports EXPIRED with the product id and expiry time, using the injected clock', async () => {
    source.add('KEY-X', { id: 5, productIds: [8], expiresAt: NOW });
    expect(await checker.check(request({ key: 'KEY-X' }))).toEqual({ status: 'EXPIRED', productId: 8, expiresAt: NOW });
    source.add('KEY-Y', { id: 6, productIds: [8], expiresAt: NOW + 1 });
    expect(await checker.check(request({ key: 'KEY-Y' }))).toEqual({ status: 'AUTHORISED', productId: 8 });
  });

  it('works with a source that answers asynchronously', async () => {
    source = new FakeSource(true);
    source.products.add(8);
    source.add('KEY-A', { id: 1, productIds: [8] });
    checker = new LicenseChecker(source, recorder, () => NOW);
    expect(await checker.check(request({ key: 'KEY-A' }))).toEqual({ status: 'AUTHORISED', productId: 8 });
    expect(await checker.check(request({ key: 'NOPE' }))).toEqual({ status: 'NOT FOUND', reason: 'key', productId: null });
  });
});

describe('LicenseChecker: multiple check', () => {
  it('picks the first granted product in proIds order', async () => {
    expect(await checker.check(request({ productIds: [8, 32, 16], key: 'KEY-BUNDLE' }))).toEqual({ status: 'AUTHORISED', productId: 32 });
    expect(await checker.check(request({ productIds: [16, 32], key: 'KEY-BUNDLE' }))).toEqual({ status: 'AUTHORISED', productId: 16 });
  });

  it('skips unknown products in the list', async () => {
    expect(await checker.check(request({ productIds: [999, 8], key: 'KEY-A' }))).toEqual({ status: 'AUTHORISED', productId: 8 });
  });

  it('says NOT FOUND (product) when no listed product is known', async () => {
    expect(await checker.check(request({ productIds: [998, 999], key: 'KEY-A' }))).toEqual({ status: 'NOT FOUND', reason: 'product', productId: null });
  });

  it('says NOT FOUND (key) when the key grants none of the listed products', async () => {
    expect(await checker.check(request({ productIds: [16, 64], key: 'KEY-A' }))).toEqual({ status: 'NOT FOUND', reason: 'key', productId: null });
  });

  it("reports the first granted product's failure", async () => {
    source.add('KEY-X', { id: 5, productIds: [16, 32], disabled: true });
    expect(await checker.check(request({ productIds: [8, 32, 16], key: 'KEY-X' }))).toEqual({ status: 'KEY DISABLED', productId: 32 });
  });
});

describe('LicenseChecker: what it records', () => {
  it('records an authorised check with the license, product, request details and log flag', async () => {
    await checker.check(request({ productIds: [8], key: 'KEY-A', ip: '5.5.5.5', info: 'srv', log: false, userAgent: 'FXServer' }));
    expect(recorder.entries).toEqual([
      {
        entry: { time: NOW, licenseId: 1, productId: 8, ip: '5.5.5.5', status: 'AUTHORISED', info: 'srv', userAgent: 'FXServer', machineId: null, endpoint: null },
        log: false,
      },
    ]);
  });

  it('records every check exactly once, passing the log flag through', async () => {
    await checker.check(request({ log: true }));
    await checker.check(request({ log: false, key: 'NOPE' }));
    await checker.check(request({ log: false, productIds: [999] }));
    expect(recorder.entries.map((e) => e.log)).toEqual([true, false, false]);
  });

  it('records an unknown key without a license id, with the asked product', async () => {
    await checker.check(request({ productIds: [999, 16], key: 'NOPE', info: 'i' }));
    expect(recorder.entries).toHaveLength(1);
    expect(recorder.entries[0]!.entry).toMatchObject({ licenseId: null, productId: 16, status: 'NOT FOUND', info: 'i' });
  });

  it('records an unknown product without a license id, with the asked product', async () => {
    await checker.check(request({ productIds: [999], key: 'KEY-A' }));
    expect(recorder.entries[0]!.entry).toMatchObject({ licenseId: null, productId: 999, status: 'NOT FOUND' });
    await checker.check(request({ productIds: [], key: 'KEY-A' }));
    expect(recorder.entries[1]!.entry).toMatchObject({ licenseId: null, productId: null, status: 'NOT FOUND' });
  });

  // Decision: the answer hides that the key exists, but the record keeps the license, so its owner
  // and staff see the key being tried against other products, and it counts as a check of it.
  it('records a known key asked for a product it does not grant under its license id', async () => {
    source.add('KEY-Y', { id: 11, productIds: [8] });
    expect(await checker.check(request({ productIds: [16], key: 'KEY-Y' }))).toEqual({ status: 'NOT FOUND', reason: 'key', productId: null });
    expect(recorder.entries[0]!.entry).toMatchObject({ licenseId: 11, productId: 16, status: 'NOT FOUND' });
  });

  it('records failures of a known license with its id and the deciding product', async () => {
    source.add('KEY-X', { id: 7, productIds: [16, 32], active: false });
    await checker.check(request({ productIds: [32, 16], key: 'KEY-X' }));
    expect(recorder.entries[0]!.entry).toMatchObject({ licenseId: 7, productId: 32, status: 'NOT ACTIVE' });
  });
});

describe('LicenseChecker: bind on first use', () => {
  it('binds the first caller of a locked license with no IPs, once', async () => {
    source.add('KEY-LOCK', { id: 9, productIds: [8], ipLocked: true, ips: [] });
    expect(await checker.check(request({ key: 'KEY-LOCK', ip: '7.7.7.7' }))).toEqual({ status: 'AUTHORISED', productId: 8 });
    expect(source.binds).toEqual([{ id: 9, ip: '7.7.7.7' }]);
    // The bound IP keeps working without binding again; another IP is refused.
    expect(await checker.check(request({ key: 'KEY-LOCK', ip: '7.7.7.7' }))).toEqual({ status: 'AUTHORISED', productId: 8 });
    expect(await checker.check(request({ key: 'KEY-LOCK', ip: '8.8.8.8' }))).toEqual({ status: 'NOT AUTHORISED', productId: 8 });
    expect(source.binds).toHaveLength(1);
  });

  it('does not bind an unlocked license, a locked one with IPs, or one that fails earlier', async () => {
    source.add('KEY-OPEN', { id: 10, productIds: [8] });
    source.add('KEY-LISTED', { id: 11, productIds: [8], ipLocked: true, ips: ['7.7.7.7'] });
    source.add('KEY-OFF', { id: 12, productIds: [8], ipLocked: true, ips: [], active: false });
    await checker.check(request({ key: 'KEY-OPEN' }));
    await checker.check(request({ key: 'KEY-LISTED', ip: '7.7.7.7' }));
    await checker.check(request({ key: 'KEY-OFF' }));
    expect(source.binds).toEqual([]);
  });

  it('does not bind when the key does not grant the product', async () => {
    source.add('KEY-LOCK', { id: 9, productIds: [8], ipLocked: true, ips: [] });
    await checker.check(request({ productIds: [16], key: 'KEY-LOCK' }));
    expect(source.binds).toEqual([]);
  });
});
