import { beforeAll, expect, it } from 'vitest';
import { request } from './helpers/http.js';
import { answer, AUTHORISED, eachDialect, KEY_NOT_FOUND, PRODUCT_NOT_FOUND } from './helpers/suite.js';

const DISABLED = answer('KEY DISABLED', false, 'This license key has been disabled by staff');
const NOT_ACTIVE = answer('NOT ACTIVE', false, 'This license key is not active, its owner must re-activate it on the license dashboard');
const NOT_AUTHORISED = answer('NOT AUTHORISED', false, 'This IP address is not authorised for this license key');
const PAST = '2020-01-02T03:04:05.000Z';
const EXPIRED = answer('EXPIRED', false, `This license key expired on ${PAST}`);

eachDialect('check API: every outcome of the check order', (server) => {
  const keys: Record<string, string> = {};
  beforeAll(async () => {
    const s = server();
    keys.ok = (await s.issue([8])).key;
    keys.other = (await s.issue([9])).key;
    const disabled = await s.issue([8]);
    await s.services.licenses.update(disabled.id, { disabled: true, active: false }, 'test');
    keys.disabled = disabled.key;
    const inactive = await s.issue([8], { expiresAt: PAST });
    await s.services.licenses.update(inactive.id, { active: false }, 'test');
    keys.inactive = inactive.key;
    keys.expired = (await s.issue([8], { expiresAt: PAST, ipLocked: true, ips: ['203.0.113.9'] })).key;
    keys.locked = (await s.issue([8], { ipLocked: true, ips: ['203.0.113.9'] })).key;
    keys.future = (await s.issue([8], { expiresAt: '2999-01-01T00:00:00Z' })).key;
  });
  const check = (path: string, key?: string, extra: { method?: string; headers?: Record<string, string>; body?: string } = {}) =>
    request(server().url, {
      path,
      method: extra.method ?? 'POST',
      headers: { ...(key === undefined ? {} : { Authorization: key }), ...extra.headers },
      body: extra.body,
    });

  it.each([
    ['unknown product id', '/api/check/999', 'ok', PRODUCT_NOT_FOUND],
    ['non-numeric product id', '/api/check/abc', 'ok', PRODUCT_NOT_FOUND],
    ['product id beyond range', '/api/check/99999999999', 'ok', PRODUCT_NOT_FOUND],
    ['negative product id', '/api/check/-8', 'ok', PRODUCT_NOT_FOUND],
    ['empty product id', '/api/check/', 'ok', PRODUCT_NOT_FOUND],
    ['no key', '/api/check/8', undefined, KEY_NOT_FOUND],
    ['empty key', '/api/check/8', '', KEY_NOT_FOUND],
    ['unknown key', '/api/check/8', 'no-such-key-at-all-1234567890', KEY_NOT_FOUND],
    ['key for another product', '/api/check/8', 'other', KEY_NOT_FOUND],
    ['staff-disabled (and inactive)', '/api/check/8', 'disabled', DISABLED],
    ['inactive (and expired)', '/api/check/8', 'inactive', NOT_ACTIVE],
    ['expired (and IP not allowed)', '/api/check/8', 'expired', EXPIRED],
    ['IP not allowed', '/api/check/8', 'locked', NOT_AUTHORISED],
    ['future expiry', '/api/check/8', 'future', AUTHORISED],
  ])('single check, %s', async (_, path, key, expected) => {
    const res = await check(path, key === undefined ? undefined : (keys[key] ?? key));
    expect(res.status).toBe(200);
    expect(res.json).toEqual(expected);
  });

  it('a key that does not grant the product answers byte-for-byte like an unknown key', async () => {
    const granted = await check('/api/check/8', keys.other);
    const unknown = await check('/api/check/8', 'no-such-key-at-all-1234567890');
    expect(granted.text).toBe(unknown.text);
    expect(granted.headers['content-length']).toBe(unknown.headers['content-length']);
  });

  it('a key longer than any license key (256 characters) is not found, and is counted as a miss', async () => {
    const long = await check('/api/check/8', 'k'.repeat(257));
    expect(long.status).toBe(200);
    expect(long.json).toEqual(KEY_NOT_FOUND);
    // The same key once more, then a known key: the cache is not confused by either.
    expect((await check('/api/check/8', 'k'.repeat(257))).json).toEqual(KEY_NOT_FOUND);
    expect((await check('/api/check/8', keys.ok)).json).toEqual(AUTHORISED);
    await server().flush();
    const [last, ...before] = await server().services.logs.checks({ limit: 3 });
    expect(last).toMatchObject({ status: 'AUTHORISED' });
    expect(before.map((r) => [r.status, r.licenseId])).toEqual([
      ['NOT FOUND', null],
      ['NOT FOUND', null],
    ]);
  });

  it.each([
    ['no known product', '/api/check/multiple?proIds=998,999', 'ok', PRODUCT_NOT_FOUND],
    ['no proIds at all', '/api/check/multiple', 'ok', PRODUCT_NOT_FOUND],
    ['junk proIds', '/api/check/multiple?proIds=a,b', 'ok', PRODUCT_NOT_FOUND],
    ['unknown key', '/api/check/multiple?proIds=8,9', 'nope-nope-nope-nope', KEY_NOT_FOUND],
    ['known key, none of its products listed', '/api/check/multiple?proIds=9', 'ok', KEY_NOT_FOUND],
    ['unknown product before a granted one', '/api/check/multiple?proIds=999,8', 'ok', { ...AUTHORISED, proId: 8 }],
    ['granted product failure carries its proId', '/api/check/multiple?proIds=9,8', 'disabled', { ...DISABLED, proId: 8 }],
    ['expired', '/api/check/multiple?proIds=8', 'expired', { ...EXPIRED, proId: 8 }],
  ])('multiple check, %s', async (_, path, key, expected) => {
    const res = await check(path, keys[key] ?? key);
    expect(res.status).toBe(200);
    expect(res.json).toEqual(expected);
  });

  it.each([
    ['disabled', 'disabled', DISABLED],
    ['inactive', 'inactive', NOT_ACTIVE],
    ['expired', 'expired', EXPIRED],
    ['IP not allowed', 'locked', NOT_AUTHORISED],
  ])('V1 keeps the failure status: %s', async (_, key, expected) => {
    const res = await check('/api/checkitem/8', keys[key]);
    expect(res.status).toBe(200);
    expect(res.json).toEqual(expected);
  });

  it('V1 with an unknown product id says the product could not be found', async () => {
    expect((await check('/api/checkitem/999', keys.ok)).json).toEqual(PRODUCT_NOT_FOUND);
  });

  it.each([
    ['broken JSON', 'application/json', '{"proIds": [8,'],
    ['JSON that is not an object', 'application/json', '[1,2,3]'],
    ['JSON null', 'application/json', 'null'],
    ['binary junk', 'application/octet-stream', '\u0000\u00ff\u00fe garbage'],
    ['XML', 'text/xml', '<a>1</a>'],
    ['multipart without boundary', 'multipart/form-data', 'abc'],
    ['bad charset', 'application/json; charset=klingon', '{}'],
    ['deep nesting', 'application/json', `${'['.repeat(5000)}${']'.repeat(5000)}`],
    ['bad percent-encoding', 'application/x-www-form-urlencoded', 'info=%zz&log=%'],
    ['a Content-Type that is not a media type', 'foo', 'x=1'],
    ['a Content-Type of only separators', ';;;', ''],
    ['an empty Content-Type', '', '{"log":true}'],
  ])('a body that does not parse is treated as empty: %s', async (_, type, body) => {
    const res = await check('/api/check/8', keys.ok, { headers: { 'Content-Type': type }, body });
    expect(res.status).toBe(200);
    expect(res.json).toEqual(AUTHORISED);
  });

  it('a body over the limit answers 413 in the same shape', async () => {
    const res = await check('/api/check/8', keys.ok, { headers: { 'Content-Type': 'application/json' }, body: `{"info":"${'x'.repeat(200_000)}"}` });
    expect(res.status).toBe(413);
    expect(res.json).toEqual(answer('PAYLOAD TOO LARGE', false, 'The request body is too large'));
  });

  it.each([
    ['GET', '/api/check'],
    ['POST', '/api/check/8/extra'],
    ['PUT', '/api/check/8'],
    ['DELETE', '/api/checkitem/8'],
    ['GET', '/api/v2/check/8'],
    ['OPTIONS', '/api/check/8'],
  ])('unknown path %s %s answers 404 with a JSON body', async (method, path) => {
    const res = await check(path, keys.ok, { method });
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json).toMatchObject({ status: 'NOT FOUND', pass: false });
  });

  it('HEAD does not run a check (no HEAD twin of the check routes)', async () => {
    const res = await check('/api/check/8', keys.ok, { method: 'HEAD' });
    expect(res.status).toBe(404);
  });

  it('a malformed URL on the check path answers 200 NOT FOUND, never 4xx/5xx', async () => {
    const res = await check('/api/check/%E0%A4%A', keys.ok);
    expect(res.status).toBe(200);
    expect(res.json).toEqual(PRODUCT_NOT_FOUND);
  });
});
