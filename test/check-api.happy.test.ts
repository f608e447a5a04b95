import { beforeAll, expect, it } from 'vitest';
import { request } from './helpers/http.js';
import { answer, AUTHORISED, eachDialect } from './helpers/suite.js';

const FORM = 'application/x-www-form-urlencoded';

eachDialect('check API: inputs and real client shapes', (server) => {
  let key: string;
  let bundleKey: string;
  beforeAll(async () => {
    ({ key } = await server().issue([8]));
    ({ key: bundleKey } = await server().issue([16, 32]));
  });
  const check = (path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) =>
    request(server().url, { path, method: init.method ?? 'POST', headers: init.headers, body: init.body });

  it('answers AUTHORISED with JSON content type and HTTP 200', async () => {
    const res = await check('/api/check/8', { headers: { Authorization: key } });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.json).toEqual(AUTHORISED);
  });

  it('accepts GET with the same meaning', async () => {
    expect((await check('/api/check/8', { method: 'GET', headers: { Authorization: key } })).json).toEqual(AUTHORISED);
    expect((await check('/api/check/multiple?proIds=8', { method: 'GET', headers: { Authorization: key } })).json).toEqual({ ...AUTHORISED, proId: 8 });
    expect((await check('/api/checkitem/8', { method: 'GET', headers: { Authorization: key } })).json.status).toBe('OK');
  });

  it.each([
    ['lower-case header name', { authorization: 'KEY' }],
    ['surrounding whitespace', { Authorization: '   KEY \t' }],
    ['Bearer prefix', { Authorization: 'Bearer KEY' }],
    ['License prefix', { Authorization: 'License KEY' }],
    ['lower-case bearer prefix', { Authorization: 'bearer KEY' }],
  ])('takes the key from the Authorization header: %s', async (_, headers) => {
    const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v.replace('KEY', key)]));
    expect((await check('/api/check/8', { headers: h })).json).toEqual(AUTHORISED);
  });

  // The client shapes of README.md ("Pointing your product at Keyward"), byte for byte.
  it('FiveM PerformHttpRequest: body "" with no Content-Type', async () => {
    const res = await check('/api/check/8', { headers: { Authorization: key, 'Content-Length': '0' }, body: '' });
    expect(res.json).toEqual(AUTHORISED);
  });

  it('PHP curl: Content-Type application/json and no body', async () => {
    const res = await check('/api/check/8', { headers: { Authorization: key, 'Content-Type': 'application/json' } });
    expect(res.json).toEqual(AUTHORISED);
  });

  it('Node https: Content-Type x-www-form-urlencoded and no body', async () => {
    const res = await check('/api/check/8', { headers: { Authorization: key, 'Content-Type': FORM, 'Content-Length': '0' } });
    expect(res.json).toEqual(AUTHORISED);
  });

  it('axios: info and log as query params, JSON Accept header', async () => {
    const res = await check('/api/check/8?info=server%201&log=false', {
      headers: { Authorization: key, Accept: 'application/json, text/plain, */*', 'User-Agent': 'axios/1.7.2', 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(res.json).toEqual(AUTHORISED);
  });

  it.each([
    ['JSON array body', 'application/json', '{"proIds":[16,32]}', ''],
    ['JSON string body', 'application/json', '{"proIds":"16,32"}', ''],
    ['form repeated keys', FORM, 'proIds=16&proIds=32', ''],
    ['form bracket keys', FORM, 'proIds%5B%5D=16&proIds%5B%5D=32', ''],
    ['query comma list', undefined, undefined, '?proIds=16,32'],
    ['query repeated keys', undefined, undefined, '?proIds=16&proIds=32'],
    ['query bracket keys', undefined, undefined, '?proIds[]=16&proIds[]=32'],
    ['query JSON array', undefined, undefined, '?proIds=%5B16%2C32%5D'],
    ['JSON body without Content-Type', undefined, '{"proIds":[16,32]}', ''],
  ])('multiple check reads proIds from %s', async (_, type, body, query) => {
    const headers: Record<string, string> = { Authorization: bundleKey };
    if (type) headers['Content-Type'] = type;
    const res = await check(`/api/check/multiple${query}`, { headers, body });
    expect(res.json).toEqual({ ...AUTHORISED, proId: 16 });
  });

  it('multiple check: order decides which granted product answers', async () => {
    const res = await check('/api/check/multiple?proIds=8,32,16', { headers: { Authorization: bundleKey } });
    expect(res.json).toEqual({ ...AUTHORISED, proId: 32 });
  });

  it('body wins over query where both are given', async () => {
    const res = await check('/api/check/multiple?proIds=8', {
      headers: { Authorization: bundleKey, 'Content-Type': 'application/json' },
      body: '{"proIds":[32]}',
    });
    expect(res.json).toEqual({ ...AUTHORISED, proId: 32 });
  });

  it('a bundle license passes the single check for each of its products', async () => {
    for (const id of [16, 32]) {
      expect((await check(`/api/check/${id}`, { headers: { Authorization: bundleKey } })).json).toEqual(AUTHORISED);
    }
  });

  it('V1 answers in the V1 words', async () => {
    const ok = await check('/api/checkitem/8', { headers: { Authorization: key } });
    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({ status: 'OK', pass: true, details: 'Authorisation completed!' });
    const missing = await check('/api/checkitem/8', { headers: { Authorization: 'not-a-real-key-123' } });
    expect(missing.json).toEqual(
      answer('NOT FOUND', false, 'The supplied license key was not found. Please check your auth key is correct'),
    );
  });

  it('/healthz answers ok', async () => {
    const res = await check('/healthz', { method: 'GET' });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ ok: true });
  });
});
