import cluster, { type Worker } from 'node:cluster';
import os from 'node:os';
import type { Logger } from 'pino';
import { serveClusterMetrics } from './metrics/metrics.js';

/** `--workers`: a whole number, or `auto` for one worker per core. */
export function workerCount(value: string): number {
  if (value === 'auto') return os.availableParallelism();
  if (!/^\d{1,3}$/.test(value) || Number(value) < 1) throw new Error('--workers must be a whole number from 1, or "auto"');
  return Number(value);
}

/**
 * The primary of `keyward serve --workers N`: forks N workers that share the listening port,
 * replaces a worker that dies, and on SIGTERM/SIGINT stops them all gracefully (each drains its
 * requests and flushes its queued writes) before exiting.
 */
export function runPrimary(workers: number, logger: Logger): void {
  let stopping = false;
  const restarts: number[] = [];
  serveClusterMetrics();
  const fork = (): Worker => cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        logger.info('every worker stopped');
        process.exit(0);
      }
      return;
    }
    // A worker that keeps dying at once (bad config, port taken) must not be restarted forever.
    const now = Date.now();
    restarts.push(now);
    while (restarts.length && now - restarts[0]! > 60_000) restarts.shift();
    if (restarts.length > workers * 5) {
      logger.fatal('workers keep exiting; giving up');
      process.exit(1);
    }
    logger.error({ pid: worker.process.pid, code, signal }, 'worker exited; starting another');
    fork();
  });
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping every worker gracefully');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    setTimeout(() => process.exit(1), 30_000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  for (let i = 0; i < workers; i++) fork();
  logger.info({ workers }, `started ${workers} workers`);
}
