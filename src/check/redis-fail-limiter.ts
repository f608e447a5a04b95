import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { brakeKey, MAX_LIMIT, MemoryFailLimiter, sha256Hex, WINDOW_MS, type FailLimiter } from './fail-limiter.js';

const CHANNEL = 'keyward:check-blocks';
/** Per caller (see brakeKey), a set of digests of the keys it missed with, expiring with its window. */
export const MISSES_PREFIX = 'keyward:check-misses:';
/**
 * One atomic step: unless the caller already has `limit` distinct keys (then this miss is over
 * the limit), add the key's digest; the window (the set's expiry) starts at the first miss.
 * Returns {distinct keys now, 1 if over, ms left in the window}.
 */
const COUNT_MISS = `local before = redis.call('SCARD', KEYS[1])
if before >= tonumber(ARGV[2]) then return {before, 1, redis.call('PTTL', KEYS[1])} end
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return {redis.call('SCARD', KEYS[1]), 0, redis.call('PTTL', KEYS[1])}`;

type CountMiss = (key: string, digest: string, limit: number, windowMs: number) => Promise<[number, number, number]>;

/**
 * 64 bits of a SHA-256 of the key, the same on every instance and apart from the database's
 * lookup digest (plain SHA-256 of the key): Redis never holds a key or anything that finds one.
 */
const missDigest = (key: string | null): string => sha256Hex(`keyward brake\n${key ?? ''}`).slice(0, 16);

/**
 * The brake shared by every instance on one Redis: distinct missed keys are counted in Redis,
 * and an instance that sees a caller reach the limit tells the others on a channel. Checks read
 * only local state; while Redis is unreachable each instance counts on its own.
 */
export class RedisFailLimiter implements FailLimiter {
  private readonly local: MemoryFailLimiter;
  private readonly countMiss: CountMiss;
  private readonly limit: number;
  private lastWarning = 0;

  private constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    limit: number,
    private readonly logger: Logger,
  ) {
    this.limit = Math.min(limit, MAX_LIMIT);
    this.local = new MemoryFailLimiter(limit);
    // EVALSHA, falling back to sending the script when Redis does not have it yet.
    redis.defineCommand('keywardCountMiss', { numberOfKeys: 1, lua: COUNT_MISS });
    const commands = redis as unknown as { keywardCountMiss: CountMiss };
    this.countMiss = (...args) => commands.keywardCountMiss(...args);
  }

  static async connect(url: string, limit: number, logger: Logger): Promise<RedisFailLimiter> {
    const options = { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout: 500 };
    const redis = new Redis(url, options);
    const subscriber = new Redis(url, { ...options, enableOfflineQueue: true, commandTimeout: undefined });
    for (const client of [redis, subscriber]) client.on('error', () => {});
    try {
      await Promise.all([redis.connect(), subscriber.connect()]);
      await subscriber.subscribe(CHANNEL);
    } catch (err) {
      redis.disconnect();
      subscriber.disconnect();
      throw new Error(`REDIS_URL: cannot reach Redis (${(err as Error).message})`);
    }
    const limiter = new RedisFailLimiter(redis, subscriber, limit, logger);
    subscriber.on('message', (_channel: string, message: string) => {
      const space = message.indexOf(' ');
      const until = Number(message.slice(0, space));
      if (space > 0 && Number.isFinite(until)) limiter.local.block(message.slice(space + 1), until);
    });
    return limiter;
  }

  blockedFor(ip: string, now: number): number {
    return this.local.blockedFor(ip, now);
  }

  async miss(ip: string, key: string | null, now: number): Promise<boolean> {
    const id = brakeKey(ip);
    try {
      const [count, over, ttl] = await this.countMiss(MISSES_PREFIX + id, missDigest(key), this.limit, WINDOW_MS);
      if (count >= this.limit) {
        const until = now + (ttl > 0 ? ttl : WINDOW_MS);
        this.local.block(id, until);
        await this.redis.publish(CHANNEL, `${until} ${id}`);
      }
      return over === 1;
    } catch (err) {
      const over = this.local.miss(ip, key, now);
      if (now - this.lastWarning > 60_000) {
        this.lastWarning = now;
        this.logger.warn({ err }, 'Redis unreachable: counting failed checks on this instance only');
      }
      return over;
    }
  }

  async close(): Promise<void> {
    await this.local.close();
    this.redis.disconnect();
    this.subscriber.disconnect();
  }
}
