import { afterAll, beforeAll, expect, it } from 'vitest';
import { IdempotencyService } from '../src/licensing/idempotency-service.js';
import { apiClient, errorOf } from './helpers/api.js';
import { freePort, startServerProcess, type ServerProcess } from './helpers/cli.js';
import { describeEachDialect } from './helpers/dialects.js';
import { request } from './helpers/http.js';
import { LICENSE_KEY } from './helpers/patterns.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * Idempotency-Key on creates: a purchase webhook retried (also concurrently, also against two
 * server instances sharing the database, one in this process and one spawned) creates exactly
 * one license.
 */
describeEachDialect('Idempotency-Key ($name)', (createDb) => {
  let a: TestServer;
  /** The second instance is its own process, as in production (one SQLite writer per process at a time). */
  let b: ServerProcess;
  let token: string;
  const apiA = apiClient(() => a, () => token);
  const apiB = apiClient(() => b as unknown as TestServer, () => token);
  const licenseCount = async () => (await a.services.licenses.list({ limit: 10_000 })).length;
  const create = (api = apiA, key = 'order-1', body: unknown = { productIds: [8], note: 'order 1' }) =>
    api.call('POST', '/licenses', { body, headers: { 'idempotency-key': key } });

  beforeAll(async () => {
    const db = await createDb!();
    a = await startTestServer(db);
    b = await startServerProcess(db.env, await freePort(), 'warn');
    token = await apiA.token(['licenses:write', 'licenses:read', 'products:write'], 'store');
    await a.services.products.create({ id: 8, name: 'Script' }, 'test');
  });
  afterAll(async () => {
    await a?.close();
    await b?.stop();
    await a?.db.cleanup();
  });

  it('two identical creates sent at once yield one license and the same answer', async () => {
    const before = await licenseCount();
    const [first, second] = await Promise.all([create(), create()]);
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(second.json).toEqual(first.json);
    expect(first.json.key).toMatch(LICENSE_KEY);
    expect([first.headers['idempotent-replayed'], second.headers['idempotent-replayed']].filter(Boolean)).toEqual(['true']);
    expect(await licenseCount()).toBe(before + 1);
  });

  it('ten at once against two server instances still yield one license', async () => {
    const before = await licenseCount();
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => create(i % 2 ? apiB : apiA, 'order-2')));
    expect(answers.map((r) => r.status)).toEqual(Array(10).fill(201));
    expect(new Set(answers.map((r) => r.json.id)).size).toBe(1);
    expect(await licenseCount()).toBe(before + 1);
    const audit = await a.services.logs.audit({ action: 'license.created', targetId: String(answers[0]!.json.id) });
    expect(audit).toHaveLength(1);
  });

  it('a later retry replays the stored answer, with the key, without creating again', async () => {
    const first = await create(apiA, 'order-3');
    const before = await licenseCount();
    const retry = await create(apiB, 'order-3');
    expect(retry.status).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.json).toEqual(first.json);
    expect(await licenseCount()).toBe(before);
  });

  it('the same key with a different request is refused with 422', async () => {
    await create(apiA, 'order-4');
    const res = await create(apiA, 'order-4', { productIds: [8], note: 'another order' });
    expect(res.status).toBe(422);
    expect(errorOf(res).code).toBe('idempotency_key_reused');
    const elsewhere = await apiA.call('POST', '/products', { body: { name: 'X' }, headers: { 'idempotency-key': 'order-4' } });
    expect(errorOf(elsewhere).code).toBe('idempotency_key_reused');
  });

  it('keys belong to their token: another token with the same key creates its own', async () => {
    const other = await apiA.token(['licenses:write'], 'other-store');
    const mine = await create(apiA, 'order-5');
    const theirs = await apiA.call('POST', '/licenses', { token: other, body: { productIds: [8], note: 'order 1' }, headers: { 'idempotency-key': 'order-5' } });
    expect(theirs.status).toBe(201);
    expect(theirs.json.id).not.toBe(mine.json.id);
  });

  it('a failed create is not remembered: the retry runs once the problem is fixed', async () => {
    const failed = await create(apiA, 'order-6', { productIds: [99] });
    expect(errorOf(failed).code).toBe('product_not_found');
    await a.services.products.create({ id: 99, name: 'Late product' }, 'test');
    const retry = await create(apiA, 'order-6', { productIds: [99] });
    expect(retry.status).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
  });

  it('keys are kept 24 hours: an older one runs the request again', async () => {
    const first = await create(apiA, 'order-7');
    const day = 24 * 3600_000 + 1000;
    await a.internal.storage.db.updateTable('idempotency_keys').set({ created_at: Date.now() - day }).where('idem_key', '=', 'order-7').execute();
    const again = await create(apiA, 'order-7');
    expect(again.status).toBe(201);
    expect(again.json.id).not.toBe(first.json.id);
    expect(await a.services.idempotency.purgeExpired(Date.now() + day)).toBeGreaterThan(0);
  });

  it('a reservation left by a crashed request is taken over after a minute', async () => {
    const tokenId = (await a.services.tokens.list()).find((t) => t.name === 'store')!.id;
    const body = { productIds: [8], note: 'order 8' };
    const hash = IdempotencyService.fingerprint({ method: 'POST', route: '/api/v1/licenses', params: {}, body });
    const insert = (updatedAt: number) =>
      a.internal.storage.db
        .insertInto('idempotency_keys')
        .values({ token_id: tokenId, idem_key: 'order-8', request_hash: hash, state: 'running', status_code: null, response: null, created_at: updatedAt, updated_at: updatedAt })
        .execute();
    await insert(Date.now() - 120_000);
    const taken = await create(apiA, 'order-8', body);
    expect(taken.status).toBe(201);
    expect(taken.headers['idempotent-replayed']).toBeUndefined();
    expect((await create(apiB, 'order-8', body)).json).toEqual(taken.json);
  });

  it('regenerate with a key replaces the key once; the replayed key is the one that works', async () => {
    const { id } = (await create(apiA, 'order-9')).json;
    const [x, y] = await Promise.all([
      apiA.call('POST', `/licenses/${id}/regenerate`, { headers: { 'idempotency-key': 'regen-9' } }),
      apiB.call('POST', `/licenses/${id}/regenerate`, { headers: { 'idempotency-key': 'regen-9' } }),
    ]);
    expect(x.json.key).toBe(y.json.key);
    const check = await request(a.url, { path: '/api/check/8', headers: { Authorization: x.json.key } });
    expect(check.json.status).toBe('AUTHORISED');
    const audit = await a.services.logs.audit({ action: 'license.regenerated', targetId: String(id) });
    expect(audit).toHaveLength(1);
  });

  it('an Idempotency-Key must be 1-255 printable characters', async () => {
    const res = await create(apiA, 'x'.repeat(256));
    expect(res.status).toBe(400);
    expect(errorOf(res).details).toEqual([expect.objectContaining({ in: 'headers', field: 'idempotency-key' })]);
  });
});
