import { Redis } from 'ioredis';

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
