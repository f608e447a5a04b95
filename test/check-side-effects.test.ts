import { expect, it } from 'vitest';
import { request } from './helpers/http.js';
import { eachDialect } from './helpers/suite.js';

eachDialect('check side effects: counters and Previous Auths', (server) => {
  const logsOf = async (licenseId: number) => server().internal.checkPath.authLogs.list({ licenseId, limit: 1000 });

  it('counts every check of a known license, logged or not', async () => {
    const s = server();
    const { id, key } = await s.issue([8]);
    const headers = { Authorization: key, 'X-Real-IP': '9.9.9.9', 'User-Agent': 'FXServer/1.0' };
    await request(s.url, { path: '/api/check/8?info=first', headers });
    await request(s.url, { path: '/api/check/8?log=false', headers });
    await request(s.url, { path: '/api/check/multiple?proIds=8&log=0', headers });
    await request(s.url, { path: '/api/checkitem/8', headers, body: 'info=v1' , });
    await s.flush();
    const license = await s.services.licenses.show(id);
    expect(license.totalChecks).toBe(4);
    expect(license.lastIp).toBe('127.0.0.1');
    expect(Date.now() - Date.parse(license.lastCheckAt!)).toBeLessThan(60_000);
    const logs = await logsOf(id);
    expect(logs).toHaveLength(2);
    expect(logs[1]).toMatchObject({ license_id: id, product_id: 8, ip: '127.0.0.1', status: 'AUTHORISED', info: 'first', user_agent: 'FXServer/1.0' });
  });

  it.each([
    ['query log=false', '?log=false', undefined, undefined],
    ['query log=0', '?log=0', undefined, undefined],
    ['query log=no', '?log=no', undefined, undefined],
    ['query log=OFF', '?log=OFF', undefined, undefined],
    ['JSON false', '', 'application/json', '{"log":false}'],
    ['JSON "false"', '', 'application/json', '{"log":"false"}'],
    ['JSON 0', '', 'application/json', '{"log":0}'],
    ['JSON "0"', '', 'application/json', '{"log":"0"}'],
    ['form log=off', '', 'application/x-www-form-urlencoded', 'log=off'],
    ['body false wins over query true', '?log=true', 'application/json', '{"log":false}'],
  ])('log=false (%s) writes no Previous Auths entry but still counts', async (_, query, type, body) => {
    const s = server();
    const { id, key } = await s.issue([8]);
    const headers: Record<string, string> = { Authorization: key };
    if (type) headers['Content-Type'] = type;
    const res = await request(s.url, { path: `/api/check/8${query}`, headers, body });
    expect(res.json.status).toBe('AUTHORISED');
    await s.flush();
    expect(await logsOf(id)).toHaveLength(0);
    expect((await s.services.licenses.show(id)).totalChecks).toBe(1);
  });

  it.each([
    ['log=true', '?log=true'],
    ['log=yes', '?log=yes'],
    ['log absent', ''],
  ])('%s logs the check', async (_, query) => {
    const s = server();
    const { id, key } = await s.issue([8]);
    await request(s.url, { path: `/api/check/8${query}`, headers: { Authorization: key } });
    await s.flush();
    expect(await logsOf(id)).toHaveLength(1);
  });

  it('stores info as text: non-strings as JSON, long text truncated to 1000 characters', async () => {
    const s = server();
    const { id, key } = await s.issue([8]);
    const json = { Authorization: key, 'Content-Type': 'application/json' };
    await request(s.url, { path: '/api/check/8', headers: json, body: JSON.stringify({ info: { server: 'eu-1', slots: 64 } }) });
    await request(s.url, { path: '/api/check/8', headers: json, body: JSON.stringify({ info: 42 }) });
    const long = 'é'.repeat(1500);
    const res = await request(s.url, { path: '/api/check/8', headers: json, body: JSON.stringify({ info: long }) });
    expect(res.json.status).toBe('AUTHORISED');
    await s.flush();
    const infos = (await logsOf(id)).map((l) => l.info);
    expect(infos).toEqual(['é'.repeat(1000), '42', '{"server":"eu-1","slots":64}']);
  });

  it('logs unknown-key attempts without a license, with the product asked for', async () => {
    const s = server();
    await s.issue([8]);
    const marker = `probe-${Date.now()}`;
    await request(s.url, { path: `/api/check/8?info=${marker}`, headers: { Authorization: 'definitely-not-a-key' } });
    await s.flush();
    const rows = await s.internal.checkPath.authLogs.list({ limit: 50 });
    const row = rows.find((r) => r.info === marker);
    expect(row).toMatchObject({ license_id: null, product_id: 8, status: 'NOT FOUND' });
  });

  it('writes reach the database within 250 ms without an explicit flush', async () => {
    const s = server();
    const { id, key } = await s.issue([8]);
    await request(s.url, { path: '/api/check/8', headers: { Authorization: key } });
    const started = Date.now();
    await expect.poll(async () => (await logsOf(id)).length, { interval: 20, timeout: 2000 }).toBe(1);
    // Generous bound for a noisy machine; the flush timer itself is LOG_FLUSH_MS (100 ms).
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await s.services.licenses.show(id)).totalChecks).toBe(1);
  });

  it('keeps exact counters under concurrent checks', async () => {
    const s = server();
    const { id, key } = await s.issue([8]);
    await Promise.all(Array.from({ length: 200 }, () => request(s.url, { path: '/api/check/8?log=false', headers: { Authorization: key } })));
    await s.flush();
    expect((await s.services.licenses.show(id)).totalChecks).toBe(200);
  });

  it('a change takes effect on the next check', async () => {
    const s = server();
    const { id, key } = await s.issue([8]);
    const check = async () => (await request(s.url, { path: '/api/check/8', headers: { Authorization: key } })).json.status;
    expect(await check()).toBe('AUTHORISED');
    await s.services.licenses.update(id, { disabled: true }, 'test');
    expect(await check()).toBe('KEY DISABLED');
    const regenerated = await s.services.licenses.regenerate(id, 'test');
    expect(await check()).toBe('NOT FOUND');
    await s.services.licenses.update(id, { disabled: false }, 'test');
    expect((await request(s.url, { path: '/api/check/8', headers: { Authorization: regenerated.key } })).json.status).toBe('AUTHORISED');
    await s.services.licenses.delete(id, 'test');
    expect((await request(s.url, { path: '/api/check/8', headers: { Authorization: regenerated.key } })).json.status).toBe('NOT FOUND');
  });
  // Was a bug on PostgreSQL: it refuses NUL in text, so one check with `info=%00` failed the whole
  // batch it was written with, again on every retry: no Previous Auths and no counters for anyone.
  it('stores an info with NUL or a lone surrogate half (as U+FFFD) without holding up other checks', async () => {
    const s = server();
    const { id, key } = await s.issue([8]);
    const other = await s.issue([8]);
    const headers = { Authorization: key, 'Content-Type': 'application/json' };
    await Promise.all([
      request(s.url, { path: '/api/check/8?info=a%00b', headers: { Authorization: key } }),
      request(s.url, { path: '/api/check/8', headers, body: '{"info":"x\\u0000y"}' }),
      request(s.url, { path: '/api/check/8', headers, body: '{"info":"half \\ud800 pair"}' }),
      request(s.url, { path: '/api/check/8?info=plain', headers: { Authorization: other.key } }),
    ]);
    await s.flush();
    expect((await s.services.licenses.show(id)).totalChecks).toBe(3);
    expect((await s.services.licenses.show(other.id)).totalChecks).toBe(1);
    expect((await logsOf(id)).map((l) => l.info).sort()).toEqual(['a\uFFFDb', 'half \uFFFD pair', 'x\uFFFDy']);
    expect((await logsOf(other.id)).map((l) => l.info)).toEqual(['plain']);
  });
});
