import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { createSqlite } from './dialects.js';
import { startTestServer, type TestServer } from './server.js';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * A client for the test Redis, or null when there is none (the caller skips its suite then).
 * In CI (.ci/run starts Redis) an unreachable Redis is an error, not a skip.
 */
export async function redisOrSkip(suite: string): Promise<Redis | null> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return client;
  } catch {
    client.disconnect();
    if (process.env.CI) throw new Error(`Redis at ${REDIS_URL} is unreachable; CI requires it (.ci/run starts it)`);
    console.warn(`[keyward tests] No Redis at ${REDIS_URL}: skipping ${suite}.`);
    return null;
  }
}

/** Two server instances on one SQLite file sharing the test Redis, and a key they both know. */
export interface RedisPair {
  /** Null when there is no Redis (outside CI): the suite's tests skip. */
  redis: Redis | null;
  a: TestServer;
  b: TestServer;
  key: string;
}

/**
 * Starts the pair before the suite's tests and stops it after them. `forget` deletes the Redis
 * keys the suite made (only those: Redis may be shared, so never a flush).
 */
export function twoInstancesSharingRedis(env: Record<string, string>, forget: (redis: Redis) => Promise<unknown>): RedisPair {
  const pair = { redis: null } as RedisPair;
  beforeAll(async () => {
    pair.redis = await redisOrSkip('the shared-brake suite');
    if (!pair.redis) return;
    const db = await createSqlite();
    pair.a = await startTestServer(db, { ...env, REDIS_URL });
    pair.b = await startTestServer(db, { ...env, REDIS_URL });
    ({ key: pair.key } = await pair.a.issue([8]));
  });
  afterAll(async () => {
    await pair.a?.close();
    await pair.b?.close();
    await pair.a?.db.cleanup();
    if (pair.redis) {
      await forget(pair.redis);
      pair.redis.disconnect();
    }
  });
  return pair;
}
