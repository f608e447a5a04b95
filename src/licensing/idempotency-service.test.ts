import { describe, expect, it } from 'vitest';
import { KeyCipher } from './key.js';
import type { IdempotencyRepository } from '../storage/idempotency-repository.js';
import type { IdempotencyKeyRow } from '../storage/schema.js';
import { IdempotencyService } from './idempotency-service.js';

/** The repository's contract, in memory: the first reserve of a (token, key) wins. */
function memoryRepo(): IdempotencyRepository {
  const rows = new Map<string, IdempotencyKeyRow>();
  const id = (t: number, k: string) => `${t}:${k}`;
  return {
    async reserve(t: number, k: string, hash: string, now: number) {
      if (rows.has(id(t, k))) return false;
      rows.set(id(t, k), { token_id: t, idem_key: k, request_hash: hash, state: 'running', status_code: null, response: null, created_at: now, updated_at: now });
      return true;
    },
    async get(t: number, k: string) {
      const row = rows.get(id(t, k));
      return row && { ...row };
    },
    async complete(t: number, k: string, status: number, response: string, now: number) {
      Object.assign(rows.get(id(t, k))!, { state: 'done', status_code: status, response, updated_at: now });
    },
    async release(t: number, k: string) {
      if (rows.get(id(t, k))?.state === 'running') rows.delete(id(t, k));
    },
    async takeOver(t: number, k: string, seen: number, now: number) {
      const row = rows.get(id(t, k));
      if (!row || row.state !== 'running' || row.updated_at !== seen) return false;
      row.updated_at = now;
      return true;
    },
    async deleteExpired(t: number, k: string, seen: number) {
      if (rows.get(id(t, k))?.created_at === seen) rows.delete(id(t, k));
    },
    async purge() {
      return 0;
    },
  } as unknown as IdempotencyRepository;
}

const cipher = new KeyCipher('unit-test-secret-0123456789abcdef0123');

describe('IdempotencyService', () => {
  it('runs the work once for concurrent duplicates and replays its answer', async () => {
    const service = new IdempotencyService(memoryRepo(), cipher);
    let runs = 0;
    const work = async () => {
      runs++;
      await new Promise((r) => setTimeout(r, 50));
      return { status: 201, body: { id: runs } };
    };
    const answers = await Promise.all([1, 2, 3].map(() => service.run(1, 'k', 'h', work)));
    expect(runs).toBe(1);
    expect(answers.map((a) => a.body)).toEqual([{ id: 1 }, { id: 1 }, { id: 1 }]);
    expect(answers.filter((a) => a.replayed)).toHaveLength(2);
  });

  it('answers 409 idempotency_key_in_use when the first request takes too long', async () => {
    const service = new IdempotencyService(memoryRepo(), cipher, { waitMs: 100 });
    const slow = service.run(1, 'k', 'h', () => new Promise((r) => setTimeout(() => r({ status: 201, body: {} }), 400)));
    await new Promise((r) => setTimeout(r, 10));
    await expect(service.run(1, 'k', 'h', async () => ({ status: 201, body: {} }))).rejects.toMatchObject({ code: 'idempotency_key_in_use', status: 409 });
    await slow;
  });

  it('fingerprints a body the same whatever the order of its keys, at any depth', () => {
    const print = (body: unknown) => IdempotencyService.fingerprint({ method: 'POST', route: '/x', params: {}, body });
    expect(print({ a: 1, b: { c: [1, { d: 2, e: 3 }], f: null } })).toBe(print({ b: { f: null, c: [1, { e: 3, d: 2 }] }, a: 1 }));
    expect(print({ a: [1, 2] })).not.toBe(print({ a: [2, 1] }));
    expect(print({ a: 1 })).not.toBe(print({ a: '1' }));
    expect(print({ a: 1 })).not.toBe(print({ a: 1, b: 2 }));
  });

  it('refuses the key with another request (422) and forgets failed work', async () => {
    const service = new IdempotencyService(memoryRepo(), cipher);
    await expect(service.run(1, 'k', 'h1', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect((await service.run(1, 'k', 'h2', async () => ({ status: 201, body: { ok: 1 } }))).replayed).toBe(false);
    await expect(service.run(1, 'k', 'h3', async () => ({ status: 201, body: {} }))).rejects.toMatchObject({ code: 'idempotency_key_reused', status: 422 });
  });
});
