import { describe, expect, it, beforeAll } from 'vitest';
import { clientCall, checkCall, ensureProducts, issueFrom, issueLicense, makePolicy } from './helpers/machines.js';
import { eachDialect } from './helpers/suite.js';

eachDialect('entitlements, usage, files: smoke', (server) => {
  beforeAll(async () => {
    await ensureProducts(server(), [8]);
  });
  it('works end to end', async () => {
    const url = server().url;
    const policy = await makePolicy(server(), [8], { entitlements: ['pro'], maxUses: 3 });
    const { id, key } = await issueFrom(server(), policy.id, { entitlements: ['export'] });
    expect((await checkCall(url, '/api/check/8?entitlements=pro,export', key)).json.status).toBe('AUTHORISED');
    expect((await checkCall(url, '/api/check/8?entitlements=pro,nope', key)).json.status).toBe('ENTITLEMENT MISSING');
    const v = await clientCall(url, 'validate', key, { productId: 8 });
    expect(v.json.license).toMatchObject({ entitlements: ['pro', 'export'], uses: 0, maxUses: 3 });
    const u1 = await clientCall(url, 'usage', key, { productId: 8, increment: 2 });
    expect(u1.json).toMatchObject({ status: 'OK', pass: true, uses: 2, maxUses: 3 });
    const u2 = await clientCall(url, 'usage', key, { productId: 8, increment: 2 });
    expect(u2.json).toMatchObject({ status: 'USAGE EXCEEDED', pass: false, uses: 2, maxUses: 3 });
    const bad = await clientCall(url, 'usage', key, { productId: 8, increment: 0 });
    expect(bad.json.status).toBe('INVALID INPUT');
    const f = await clientCall(url, 'file', key, { productId: 8 });
    expect(f.json.status).toBe('ISSUED');
    expect(f.json.file).toMatch(/^-----BEGIN KEYWARD LICENSE FILE-----\n/);
    const short = await issueLicense(server(), { productIds: [8], key: 'short-key-12' });
    expect((await clientCall(url, 'file', short.key, { productId: 8 })).json.status).toBe('FILE NOT ALLOWED');
    const mp = await makePolicy(server(), [8], { maxMachines: 1 });
    const m = await issueFrom(server(), mp.id);
    expect((await clientCall(url, 'file', m.key, { productId: 8, fingerprint: 'fp-a' })).json.status).toBe('NOT ACTIVATED');
    expect((await clientCall(url, 'activate', m.key, { productId: 8, fingerprint: 'fp-a' })).json.status).toBe('ACTIVATED');
    expect((await clientCall(url, 'file', m.key, { productId: 8, fingerprint: 'fp-a', ttlSeconds: 3600 })).json.status).toBe('ISSUED');
    expect((await clientCall(url, 'deactivate', m.key, { productId: 8, fingerprint: 'fp-a' })).json.status).toBe('DEACTIVATED');
    expect((await clientCall(url, 'activate', m.key, { productId: 8, fingerprint: 'fp-b' })).json.status).toBe('TOO MANY MACHINES');
    expect((await clientCall(url, 'activate', m.key, { productId: 8, fingerprint: 'fp-a' })).json.status).toBe('ACTIVATED');
    expect((await server().services.usage.change(id, { reset: true }, 'staff')).uses).toBe(0);
  });
});
void describe;
