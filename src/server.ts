import pino, { type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { firstRunSetupUrl } from './dashboard/auth/setup-token.js';
import { buildAnswers } from './check/answers.js';
import { MemoryFailLimiter, noFailLimiter, type FailLimiter } from './check/fail-limiter.js';
import { clientIpResolver } from './check/client-ip.js';
import type { Config } from './config.js';
import { AnswerSigner } from './licensing/answer-signer.js';
import { LicenseChecker } from './licensing/check-license.js';
import { RetentionJob } from './retention/retention-job.js';
import { HeartbeatSweep } from './licensing/heartbeat-sweep.js';
import { openServices, type Internals, type Services } from './services.js';
import { Metrics } from './metrics/metrics.js';
import { LicenseCache } from './storage/license-cache.js';
import { WriteBehind } from './storage/write-behind.js';
import { SqliteCheckpointer } from './storage/sqlite-checkpointer.js';

export interface RunningServer {
  /** The core app: owns the HTTP server (health, public key, metrics, background jobs). */
  app: FastifyInstance;
  /** The management API and dashboard app, loaded on first use (this loads it when it is not yet). */
  features(): Promise<FastifyInstance>;
  url: string;
  services: Services;
  /** The check path's and background jobs' parts below the services (for tests, never for routes). */
  internal: Internals;
  writeBehind: WriteBehind;
  /** Prunes Previous Auths older than AUTH_LOG_RETENTION_DAYS into daily counts, in the background. */
  retention: RetentionJob;
  /** Frees machines whose policy heartbeat passed, in the background. */
  heartbeats: HeartbeatSweep;
  /** Stops taking connections, finishes requests in flight, writes every queued record, closes the database. */
  close(): Promise<void>;
}

export function createLogger(config: Config): Logger {
  return pino({ level: config.LOG_LEVEL, redact: ['req.headers.authorization', 'headers.authorization'] });
}

export async function startServer(config: Config, logger: Logger = createLogger(config)): Promise<RunningServer> {
  const clientIp = clientIpResolver(config.TRUST_PROXY);
  const { services, internal } = await openServices(config);
  let closeLimiter = async (): Promise<void> => {};
  // Set once the app is built: a start-up that fails after that (a port already taken) stops
  // what the app started when it became ready (webhook delivery, purges) before the database closes.
  let closeApp = async (): Promise<void> => {};
  try {
    const { checkPath, storage } = internal;
    const cache = new LicenseCache(checkPath, storage.changes, {
      maxEntries: config.LICENSE_CACHE_SIZE,
      bindFirstIp: checkPath.bindFirstIp,
      writes: checkPath.writes,
      onError: (err) => logger.error({ err }, 'binding a license to its first IP failed'),
    });
    await storage.changes.watch();
    const metricsOn = config.METRICS === 'on' || config.METRICS_TOKEN !== undefined;
    const metrics: Metrics | undefined = metricsOn
      ? new Metrics({ queueDepth: (): number => writeBehind.queued, pool: storage.pgPool, licenseCache: cache })
      : undefined;
    const writeBehind: WriteBehind = new WriteBehind(checkPath.authLogs, {
      flushMs: config.LOG_FLUSH_MS,
      onFlush: metrics && ((seconds, rows) => metrics.flush(seconds, rows)),
      onError: (err, dropped) =>
        logger.error({ err, queued: writeBehind.queued, dropped }, 'writing Previous Auths failed; will retry'),
      onRefused: (err, row) =>
        logger.error(
          { err, licenseId: row.license_id, productId: row.product_id, status: row.status, time: row.time },
          'the database refused one Previous Auths row; it was set aside, the rest of its batch and the counters were written',
        ),
    });
    const retention = new RetentionJob(internal.retention, { retentionDays: config.AUTH_LOG_RETENTION_DAYS, logger });
    const heartbeats = new HeartbeatSweep(services.machines, { flushSightings: () => writeBehind.flush(), logger, intervalMs: config.MACHINE_SWEEP_MS });
    const answers = buildAnswers(config.PUBLIC_URL);
    const checker = new LicenseChecker(cache, writeBehind);
    const signer = new AnswerSigner(await services.signingKeys.current());
    // A rotation (from the CLI or another instance) reaches this signer through the change feed;
    // reloads run one after another so a slow one cannot bring back an older key.
    let reloading = Promise.resolve();
    storage.changes.onChange('signing-keys', () => {
      reloading = reloading
        .then(() => services.signingKeys.current())
        .then(
          (key) => {
            if (key.id !== signer.keyId) signer.setKey(key);
          },
          (err) => logger.error({ err }, 'reloading the signing key failed'),
        );
    });
    const failLimiter = await createFailLimiter(config, logger);
    closeLimiter = () => failLimiter.close();
    const { core: app, features } = await buildApp({
      config,
      services,
      internal,
      logger,
      checker,
      answers,
      clientIp,
      bodyLimit: config.BODY_LIMIT,
      signer,
      failLimiter,
      metrics,
    });
    closeApp = () => app.close();
    await app.listen({ port: config.PORT, host: config.HOST });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.PORT;
    const url = `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${port}`;
    logger.info({ url, database: config.dialect, publicUrl: config.PUBLIC_URL }, `Keyward is serving license checks on ${url}`);
    if ((await services.users.adminCount()) === 0) {
      logger.warn('No admin account yet. Create the first one with: npx keyward user create --username admin --role admin');
      const setupUrl = await firstRunSetupUrl({ setup: services.setupTokens, users: services.users, publicUrl: config.PUBLIC_URL });
      if (setupUrl) logger.warn(`Or open this one-time setup URL (valid 24 hours) to create the first admin: ${setupUrl}`);
    }
    retention.start();
    heartbeats.start();
    // SQLite: WAL checkpoints (a copy and a disk sync) happen in a worker thread, not in a check.
    const checkpointer =
      storage.sqlite && config.sqlitePath && config.sqlitePath !== ':memory:'
        ? SqliteCheckpointer.start(storage.sqlite, config.sqlitePath, {
            onError: (err) => logger.error({ err }, 'WAL checkpoints in the background failed; the server does them itself from now on'),
          })
        : null;
    let closing: Promise<void> | null = null;
    return {
      app,
      features,
      url,
      services,
      internal,
      retention,
      heartbeats,
      writeBehind,
      close: () =>
        (closing ??= (async () => {
          await app.close();
          await retention.stop();
          await heartbeats.stop();
          await writeBehind.close();
          await checkpointer?.stop();
          await failLimiter.close();
          await services.close();
        })()),
    };
  } catch (err) {
    await closeApp().catch(() => {});
    await closeLimiter().catch(() => {});
    await services.close().catch(() => {});
    throw err;
  }
}

/** The per-IP brake on key guessing: off, this process only, or shared through Redis. */
async function createFailLimiter(config: Config, logger: Logger): Promise<FailLimiter> {
  if (config.CHECK_FAIL_LIMIT === 0) return noFailLimiter;
  if (config.REDIS_URL) {
    // Loaded only when configured: most single-instance servers never need a Redis client.
    const { RedisFailLimiter } = await import('./check/redis-fail-limiter.js');
    return RedisFailLimiter.connect(config.REDIS_URL, config.CHECK_FAIL_LIMIT, logger);
  }
  return new MemoryFailLimiter(config.CHECK_FAIL_LIMIT);
}
