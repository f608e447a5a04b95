import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { MemoryFailLimiter, WINDOW_MS, type FailLimiter } from './fail-limiter.js';

const CHANNEL = 'keyward:check-blocks';
const KEY_PREFIX = 'keyward:check-fails:';
// One atomic step: count the miss, start the window on the first one, say how long it has left.
const COUNT_MISS = `local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {c, redis.call('PTTL', KEYS[1])}`;

/**
 * The brake shared by every instance on one Redis: misses are counted in Redis, and an instance
 * that sees an IP reach the limit tells the others on a channel. Checks read only local state;
 * while Redis is unreachable each instance counts on its own.
 */
export class RedisFailLimiter implements FailLimiter {
  private readonly local: MemoryFailLimiter;
  private lastWarning = 0;

  private constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly limit: number,
    private readonly logger: Logger,
  ) {
    this.local = new MemoryFailLimiter(limit);
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

  async miss(ip: string, now: number): Promise<boolean> {
    try {
      const [count, ttl] = (await this.redis.eval(COUNT_MISS, 1, KEY_PREFIX + ip, WINDOW_MS)) as [number, number];
      if (count >= this.limit) {
        const until = now + (ttl > 0 ? ttl : WINDOW_MS);
        this.local.block(ip, until);
        await this.redis.publish(CHANNEL, `${until} ${ip}`);
      }
      return count > this.limit;
    } catch (err) {
      const over = this.local.miss(ip, now);
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
