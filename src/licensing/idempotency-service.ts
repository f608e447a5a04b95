import { createHash } from 'node:crypto';
import { KeywardError } from '../errors.js';
import type { KeyCipher } from './key.js';
import type { IdempotencyRepository } from '../storage/idempotency-repository.js';

export interface Answer {
  status: number;
  body: unknown;
}

export interface IdempotencyOptions {
  /** How long a key and its answer are kept. */
  ttlMs: number;
  /** How long a duplicate waits for the first request to finish before answering 409. */
  waitMs: number;
  /** A `running` reservation untouched this long belongs to a request that died; it may be taken over. */
  staleMs: number;
}

const DEFAULTS: IdempotencyOptions = { ttlMs: 24 * 3600_000, waitMs: 10_000, staleMs: 60_000 };

/**
 * Idempotency-Key handling (one answer per key, per token, for 24 hours). The first request
 * INSERTs a reservation; the primary key makes exactly one insert win, in any process, on both
 * dialects. Duplicates wait for that request's answer and replay it. Answers are stored
 * encrypted: a create's answer carries the clear key.
 */
export class IdempotencyService {
  private readonly options: IdempotencyOptions;

  constructor(
    private readonly repo: IdempotencyRepository,
    private readonly cipher: KeyCipher,
    options: Partial<IdempotencyOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  /**
   * A fingerprint of the request: the same key sent with another request is refused. Objects'
   * keys are sorted first, so the same JSON body sent with its keys in another order matches.
   */
  static fingerprint(parts: { method: string; route: string; params?: unknown; body?: unknown }): string {
    return createHash('sha256').update(canonicalJson([parts.method, parts.route, parts.params ?? null, parts.body ?? null])).digest('hex');
  }

  async run(tokenId: number, key: string, requestHash: string, work: () => Promise<Answer>): Promise<Answer & { replayed: boolean }> {
    const started = Date.now();
    for (let pause = 25; ; pause = Math.min(pause * 2, 250)) {
      const now = Date.now();
      if (await this.repo.reserve(tokenId, key, requestHash, now)) break;
      const row = await this.repo.get(tokenId, key);
      if (!row) continue; // released or purged meanwhile: try to reserve again
      if (row.created_at <= now - this.options.ttlMs) {
        await this.repo.deleteExpired(tokenId, key, row.created_at);
        continue;
      }
      if (row.request_hash !== requestHash) {
        throw new KeywardError('idempotency_key_reused', 'this Idempotency-Key was already used with a different request');
      }
      if (row.state === 'done' && row.status_code !== null && row.response !== null) {
        return { status: row.status_code, body: JSON.parse(this.cipher.decrypt(row.response)) as unknown, replayed: true };
      }
      if (row.updated_at <= now - this.options.staleMs && (await this.repo.takeOver(tokenId, key, row.updated_at, now))) break;
      if (now - started >= this.options.waitMs) {
        throw new KeywardError('idempotency_key_in_use', 'a request with this Idempotency-Key is still being processed; retry later');
      }
      await new Promise((r) => setTimeout(r, pause));
    }
    let answer: Answer;
    try {
      answer = await work();
    } catch (err) {
      // Nothing was done (or it failed): a retry with the same key may run again.
      await this.repo.release(tokenId, key).catch(() => {});
      throw err;
    }
    await this.repo.complete(tokenId, key, answer.status, this.cipher.encrypt(JSON.stringify(answer.body)), Date.now());
    return { ...answer, replayed: false };
  }

  /** Forgets keys older than the retention time; returns how many. */
  purgeExpired(now = Date.now()): Promise<number> {
    return this.repo.purge(now - this.options.ttlMs);
  }
}

/** JSON text with every object's keys in sorted order, at every depth; arrays keep their order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
