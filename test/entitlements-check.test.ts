import { beforeAll, describe, expect, it } from 'vitest';
import { request, type RawResponse } from './helpers/http.js';
import { checkCall, clientCall, ensureProducts, issueFrom, issueLicense, machineAnswer, machinesOf, makePolicy, timeUntil } from './helpers/machines.js';
import { AUTHORISED, eachDialect, KEY_NOT_FOUND, PUBLIC_URL } from './helpers/suite.js';

/**
 * Entitlements on the check path (docs/check-api.md): the three check endpoints and `validate` read
 * `entitlements` in every form `proIds` takes; a license grants its policy's codes and its own; every
 * asked code must be granted, else ENTITLEMENT MISSING, which comes after the machine steps and
 * activates nothing; a code outside the pattern or past the 100th asked never passes; a request
 * without `entitlements` answers byte for byte as a plain license's.
 */
const MISSING_DETAILS = `This license key does not grant a feature this product asked for - ${PUBLIC_URL}`;
const MISSING = { status: 'ENTITLEMENT MISSING', pass: false, details: MISSING_DETAILS };
const V1_OK = { status: 'OK', pass: true, details: 'Authorisation completed!' };
const JSON_TYPE = { 'content-type': 'application/json' };
const FORM_TYPE = { 'content-type': 'application/x-www-form-urlencoded' };

/** How `entitlements` travels: in the query string, or in a body of a content type. */
interface Sent {
  query?: string;
  body?: string;
  headers?: Record<string, string>;
}

const FORMS: { name: string; send: (codes: string[]) => Sent }[] = [
  { name: 'query "a,b"', send: (codes) => ({ query: `entitlements=${codes.join(',')}` }) },
  { name: 'query repeated keys', send: (codes) => ({ query: codes.map((c) => `entitlements=${c}`).join('&') }) },
  { name: 'query JSON-array text', send: (codes) => ({ query: `entitlements=${encodeURIComponent(JSON.stringify(codes))}` }) },
  { name: 'JSON array', send: (codes) => ({ body: JSON.stringify({ entitlements: codes }), headers: JSON_TYPE }) },
  { name: 'JSON text "[\\"a\\"]"', send: (codes) => ({ body: JSON.stringify({ entitlements: JSON.stringify(codes) }), headers: JSON_TYPE }) },
  { name: 'form entitlements[] keys', send: (codes) => ({ body: codes.map((c) => `entitlements%5B%5D=${c}`).join('&'), headers: FORM_TYPE }) },
  { name: 'form "a,b"', send: (codes) => ({ body: `entitlements=${codes.join('%2C')}`, headers: FORM_TYPE }) },
];

/** Each endpoint asked about product 8 (the multiple check with 9, which the key does not grant, first). */
const ENDPOINTS = [
  { name: 'single', path: '/api/check/8', query: '', ok: AUTHORISED, missing: MISSING },
  { name: 'multiple', path: '/api/check/multiple', query: 'proIds=9,8', ok: { ...AUTHORISED, proId: 8 }, missing: { ...MISSING, proId: 8 } },
  { name: 'V1', path: '/api/checkitem/8', query: '', ok: V1_OK, missing: MISSING },
  { name: 'validate', path: '/api/license/validate', query: 'productId=8', ok: AUTHORISED, missing: MISSING },
];
type Endpoint = (typeof ENDPOINTS)[number];

/** One POST to an endpoint with these entitlements sent this way (nothing: none sent). */
function ask(url: string, endpoint: Endpoint, key: string, sent: Sent = {}): Promise<RawResponse> {
  const query = [endpoint.query, sent.query].filter(Boolean).join('&');
  return checkCall(url, query ? `${endpoint.path}?${query}` : endpoint.path, key, { body: sent.body, headers: sent.headers });
}

/** The answer's status, pass and details (validate adds the license and the machine). */
const verdict = (res: RawResponse) => ({ status: res.json.status, pass: res.json.pass, details: res.json.details, ...(res.json.proId === undefined ? {} : { proId: res.json.proId }) });

/** A check on /api/check/8 with `entitlements` and optionally a fingerprint in the query. */
async function checkWith(url: string, key: string, codes: string[], fingerprint?: string): Promise<string> {
  const query = `entitlements=${codes.join(',')}${fingerprint === undefined ? '' : `&fingerprint=${fingerprint}`}`;
  return (await checkCall(url, `/api/check/8?${query}`, key)).json.status;
}

eachDialect('entitlements on the check path', (server) => {
  const url = () => server().url;
  let tiered: { id: number };
  beforeAll(async () => {
    await ensureProducts(server(), [8, 9]);
    tiered = await makePolicy(server(), [8], { entitlements: ['pro'] });
  });

  describe.each(ENDPOINTS)('$name', (endpoint) => {
    it.each(FORMS)('$name: granted codes (the policy’s and the license’s own) pass, one more is missing', async ({ send }) => {
      const { key } = await issueFrom(server(), tiered.id, { entitlements: ['export'] });
      for (const codes of [['pro', 'export'], ['export', 'pro'], ['pro'], ['export']]) {
        expect(verdict(await ask(url(), endpoint, key, send(codes))), codes.join()).toEqual(endpoint.ok);
      }
      for (const codes of [['pro', 'export', 'beta'], ['beta'], ['pro', 'PRO']]) {
        expect(verdict(await ask(url(), endpoint, key, send(codes))), codes.join()).toEqual(endpoint.missing);
      }
    });

    it('a license with no entitlements asked for one: missing; asked for none (or an empty list): authorised', async () => {
      const { key } = await issueLicense(server(), { productIds: [8] });
      expect(verdict(await ask(url(), endpoint, key, { query: 'entitlements=pro' }))).toEqual(endpoint.missing);
      expect(verdict(await ask(url(), endpoint, key, { query: 'entitlements=' }))).toEqual(endpoint.ok);
      expect(verdict(await ask(url(), endpoint, key, { body: '{"entitlements":[]}', headers: JSON_TYPE }))).toEqual(endpoint.ok);
      expect(verdict(await ask(url(), endpoint, key))).toEqual(endpoint.ok);
    });
  });

  it('an ENTITLEMENT MISSING check is counted and logged like any other', async () => {
    const { id, key } = await issueFrom(server(), tiered.id);
    expect(await checkWith(url(), key, ['beta'])).toBe('ENTITLEMENT MISSING');
    await server().flush();
    expect((await server().services.licenses.show(id)).totalChecks).toBe(1);
    expect((await server().services.logs.checks({ licenseId: id })).map((r) => [r.status, r.productId])).toEqual([['ENTITLEMENT MISSING', 8]]);
  });

  describe('the order of the steps', () => {
    it('comes after FINGERPRINT REQUIRED and TOO MANY MACHINES; a new machine asking a missing code is not activated', async () => {
      const policy = await makePolicy(server(), [8], { maxMachines: 1, entitlements: ['pro'] });
      const { id, key } = await issueFrom(server(), policy.id);
      expect(await checkWith(url(), key, ['beta'])).toBe('FINGERPRINT REQUIRED');
      expect(await checkWith(url(), key, ['beta'], 'fp-a')).toBe('ENTITLEMENT MISSING');
      for (const op of ['validate', 'activate'] as const) {
        const res = await clientCall(url(), op, key, { productId: 8, fingerprint: 'fp-a', entitlements: ['beta'] });
        expect(res.json).toMatchObject({ ...MISSING, machine: null });
      }
      expect(await machinesOf(server(), id)).toEqual([]);

      expect(await checkWith(url(), key, ['pro'], 'fp-a')).toBe('AUTHORISED');
      expect((await machinesOf(server(), id)).map((m) => m.fingerprint)).toEqual(['fp-a']);
      // The known machine asking a missing code: missing, and it keeps its slot.
      expect(await checkWith(url(), key, ['beta'], 'fp-a')).toBe('ENTITLEMENT MISSING');
      const validated = await clientCall(url(), 'validate', key, { productId: 8, fingerprint: 'fp-a', entitlements: 'pro,beta' });
      expect(validated.json).toMatchObject({ ...MISSING, license: { entitlements: ['pro'], machines: 1 }, machine: { fingerprint: 'fp-a' } });
      // A second machine: the slot is taken, whatever it asks.
      expect(await checkWith(url(), key, ['beta'], 'fp-b')).toBe('TOO MANY MACHINES');
      expect(await checkWith(url(), key, ['pro'], 'fp-b')).toBe('TOO MANY MACHINES');
      // Freeing a machine asks for no feature.
      const freed = await clientCall(url(), 'deactivate', key, { productId: 8, fingerprint: 'fp-a', entitlements: ['beta'] });
      expect(freed.json.status).toBe('DEACTIVATED');
      expect(await machinesOf(server(), id)).toEqual([]);
    });

    it('comes after NOT ACTIVATED (autoActivate false)', async () => {
      const policy = await makePolicy(server(), [8], { maxMachines: 2, autoActivate: false, entitlements: ['pro'] });
      const { key } = await issueFrom(server(), policy.id);
      expect(await checkWith(url(), key, ['beta'], 'desk')).toBe('NOT ACTIVATED');
      expect((await checkCall(url(), '/api/check/multiple?proIds=8&entitlements=beta&fingerprint=desk', key)).json).toEqual(machineAnswer('NOT ACTIVATED', 8));
      expect((await clientCall(url(), 'activate', key, { productId: 8, fingerprint: 'desk' })).json.status).toBe('ACTIVATED');
      expect(await checkWith(url(), key, ['beta'], 'desk')).toBe('ENTITLEMENT MISSING');
      expect(await checkWith(url(), key, ['pro'], 'desk')).toBe('AUTHORISED');
    });

    it('the license steps come first: NOT FOUND, KEY DISABLED, EXPIRED, NOT AUTHORISED', async () => {
      const { id, key } = await issueFrom(server(), tiered.id);
      expect((await checkCall(url(), '/api/check/9?entitlements=beta', key)).json).toEqual(KEY_NOT_FOUND);
      const locked = await issueFrom(server(), tiered.id, { ipLocked: true, ips: ['192.0.2.1'] });
      expect(await checkWith(url(), locked.key, ['beta'])).toBe('NOT AUTHORISED');
      const expired = await issueFrom(server(), tiered.id, { expiresAt: '2020-01-01T00:00:00.000Z' });
      expect(await checkWith(url(), expired.key, ['beta'])).toBe('EXPIRED');
      await server().services.licenses.update(id, { disabled: true }, 'test');
      expect(await timeUntil(() => checkWith(url(), key, ['beta']), 'KEY DISABLED')).toBeLessThan(1000);
    });

    it('a first-use license’s clock does not start on ENTITLEMENT MISSING', async () => {
      const policy = await makePolicy(server(), [8], { durationDays: 30, expiryBasis: 'first-use', entitlements: ['pro'] });
      const { id, key } = await issueFrom(server(), policy.id);
      expect(await checkWith(url(), key, ['beta'])).toBe('ENTITLEMENT MISSING');
      expect((await server().services.licenses.show(id)).expiresAt).toBeNull();
      expect(await checkWith(url(), key, ['pro'])).toBe('AUTHORISED');
      expect((await server().services.licenses.show(id)).expiresAt).not.toBeNull();
    });
  });

  describe('codes never granted', () => {
    it('a code outside ^[a-z0-9][a-z0-9_.:-]{0,63}$ is never granted, and no license or policy can hold one', async () => {
      const { key } = await issueFrom(server(), tiered.id, { entitlements: ['a.b_c:d-1', 'x'.repeat(64), 'true', 'null', '1'] });
      expect(await checkWith(url(), key, ['a.b_c:d-1', 'x'.repeat(64), 'true', 'null', '1'])).toBe('AUTHORISED');
      for (const code of ['PRO', 'Pro', '-pro', '_pro', 'pro!', 'pro%20x', 'x'.repeat(65), '%C3%A9']) {
        expect(await checkWith(url(), key, [code]), code).toBe('ENTITLEMENT MISSING');
      }
      // Values that are not text in a JSON list are no codes either, not even the codes of their JSON text.
      const sendJson = (entitlements: unknown[]) => checkCall(url(), '/api/check/8', key, { body: JSON.stringify({ entitlements }), headers: JSON_TYPE });
      expect((await sendJson(['pro', 'true', 'null', '1'])).json).toEqual(AUTHORISED);
      for (const value of [true, null, 1]) expect((await sendJson(['pro', value])).json, String(value)).toEqual(MISSING);
      await expect(server().services.licenses.create({ productIds: [8], entitlements: ['PRO'] }, 'test')).rejects.toMatchObject({ code: 'invalid_input' });
      await expect(makePolicy(server(), [8], { entitlements: ['x'.repeat(65)] })).rejects.toMatchObject({ code: 'invalid_input' });
    });

    it('past the 100th code asked, nothing passes, even codes the license grants', async () => {
      const hundred = Array.from({ length: 100 }, (_, i) => `c${i}`);
      const policy = await makePolicy(server(), [8], { entitlements: hundred });
      const { key } = await issueFrom(server(), policy.id, { entitlements: ['extra'] });
      const send = (codes: string[]) => checkCall(url(), '/api/check/8', key, { body: JSON.stringify({ entitlements: codes }), headers: JSON_TYPE });
      expect((await send(hundred)).json).toEqual(AUTHORISED);
      expect((await send([...hundred.slice(1), 'extra'])).json).toEqual(AUTHORISED);
      expect((await send([...hundred, 'extra'])).json).toEqual(MISSING);
      expect((await send([...hundred, ...hundred.map((c) => `${c}x`)])).json).toEqual(MISSING);
      // A repeated code is asked once.
      expect((await send([...hundred, ...hundred])).json).toEqual(AUTHORISED);
      expect((await checkCall(url(), `/api/check/8?entitlements=${[...hundred, 'extra'].join(',')}`, key)).json).toEqual(MISSING);
    });
  });

  it('byte for byte: a request without entitlements answers as a plain license’s (body, type, signature version)', async () => {
    const plain = await issueLicense(server(), { productIds: [8] });
    const featured = await issueFrom(server(), (await makePolicy(server(), [8], { entitlements: ['pro', 'export'], maxUses: 10 })).id, { entitlements: ['beta'] });
    for (const endpoint of ENDPOINTS.filter((e) => e.name !== 'validate')) {
      for (const method of ['POST', 'GET']) {
        const path = endpoint.query ? `${endpoint.path}?${endpoint.query}` : endpoint.path;
        const a = await request(url(), { method, path, headers: { authorization: plain.key } });
        const b = await request(url(), { method, path, headers: { authorization: featured.key } });
        expect(b.text, `${method} ${path}`).toBe(a.text);
        expect(b.text).toBe(JSON.stringify(endpoint.ok));
        expect(b.headers['content-type']).toBe(a.headers['content-type']);
        expect(b.headers['x-keyward-signature-version']).toBeUndefined();
      }
    }
  });

  it('a policy’s or a license’s entitlement change reaches checks within 1 s; validate answers the effective codes', async () => {
    const policy = await makePolicy(server(), [8], { entitlements: ['pro'] });
    const { id, key } = await issueFrom(server(), policy.id, { entitlements: ['export'] });
    const validated = async () => (await clientCall(url(), 'validate', key, { productId: 8 })).json.license.entitlements;
    expect(await validated()).toEqual(['pro', 'export']);
    expect(await checkWith(url(), key, ['beta'])).toBe('ENTITLEMENT MISSING');

    await server().services.policies.update(policy.id, { entitlements: ['pro', 'beta'] }, 'test');
    expect(await timeUntil(() => checkWith(url(), key, ['beta']), 'AUTHORISED')).toBeLessThan(1000);
    expect(await validated()).toEqual(['pro', 'beta', 'export']);

    await server().services.policies.update(policy.id, { entitlements: [] }, 'test');
    expect(await timeUntil(() => checkWith(url(), key, ['pro']), 'ENTITLEMENT MISSING')).toBeLessThan(1000);
    expect(await checkWith(url(), key, ['export'])).toBe('AUTHORISED');
    expect(await validated()).toEqual(['export']);

    await server().services.licenses.update(id, { entitlements: ['export', 'sso'] }, 'test');
    expect(await timeUntil(() => checkWith(url(), key, ['sso']), 'AUTHORISED')).toBeLessThan(1000);
    await server().services.licenses.update(id, { entitlements: [] }, 'test');
    expect(await timeUntil(() => checkWith(url(), key, ['export']), 'ENTITLEMENT MISSING')).toBeLessThan(1000);
    expect(await validated()).toEqual([]);
  });

  it('validate answers the effective codes (the policy’s, then the license’s own) whatever it asked', async () => {
    const { id, key } = await issueFrom(server(), tiered.id, { entitlements: ['export', 'pro'] });
    const license = { id, productIds: [8], expiresAt: null, entitlements: ['pro', 'export'], maxMachines: null, machines: 0, uses: 0, maxUses: null };
    expect((await clientCall(url(), 'validate', key, { productId: 8 })).json).toEqual({ ...AUTHORISED, license, machine: null });
    expect((await clientCall(url(), 'validate', key, { productId: 8, entitlements: 'export' })).json).toEqual({ ...AUTHORISED, license, machine: null });
    expect((await clientCall(url(), 'validate', key, { productId: 8, entitlements: ['nope'] })).json).toEqual({ ...MISSING, license, machine: null });
    // What staff see is the license's own list.
    expect((await server().services.licenses.show(id)).entitlements).toEqual(['export', 'pro']);
  });
});
