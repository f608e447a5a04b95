import { afterAll, describe, expect, it } from 'vitest';
import { createSqlite, type TestDatabase } from './helpers/dialects.js';
import { request } from './helpers/http.js';
import { startTestServer, type TestServer } from './helpers/server.js';

describe('GET /metrics: the license cache', () => {
  let db: TestDatabase | undefined;
  let server: TestServer | undefined;
  afterAll(async () => {
    await server?.close();
    await db?.cleanup();
  });

  it('counts a check whose key was read from the database as a miss, and the next ones as hits (unknown keys too)', async () => {
    db = await createSqlite();
    server = await startTestServer(db, { METRICS: 'on' });
    const { key } = await server.issue([8]);
    const check = async (k: string) => (await request(server!.url, { path: '/api/check/8', headers: { Authorization: k } })).json.status;
    const counts = async () => {
      const text = (await request(server!.url, { method: 'GET', path: '/metrics' })).text;
      const read = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
      return { hits: read('keyward_license_cache_hits_total'), misses: read('keyward_license_cache_misses_total') };
    };

    expect(await counts()).toEqual({ hits: 0, misses: 0 });
    expect(await check(key)).toBe('AUTHORISED');
    expect(await counts()).toEqual({ hits: 0, misses: 1 });
    expect(await check(key)).toBe('AUTHORISED');
    expect(await check(key)).toBe('AUTHORISED');
    expect(await counts()).toEqual({ hits: 2, misses: 1 });
    expect(await check('NO-SUCH-KEY-0000')).toBe('NOT FOUND');
    expect(await check('NO-SUCH-KEY-0000')).toBe('NOT FOUND');
    expect(await counts()).toEqual({ hits: 3, misses: 2 });

    // A change to licenses empties the cache: the next check reads the database again.
    await server.services.licenses.create({ productIds: [8] }, 'test');
    expect(await check(key)).toBe('AUTHORISED');
    expect(await counts()).toEqual({ hits: 3, misses: 3 });
  });
});
