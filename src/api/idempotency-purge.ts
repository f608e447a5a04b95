import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Services } from '../services.js';

const IDEMPOTENCY_PURGE_MS = 3600_000;

/** Deletes expired Idempotency-Keys hourly (and once at start) while the server runs. */
export function startIdempotencyPurge(app: FastifyInstance, services: Services, logger: Logger): void {
  // The purge in progress, awaited on close so it never runs against a closed database.
  let running: Promise<void> = Promise.resolve();
  const purge = () => {
    running = services.idempotency.purgeExpired().then(
      () => {},
      (err: unknown) => logger.error({ err }, 'purging old Idempotency-Keys failed'),
    );
  };
  let timer: NodeJS.Timeout | null = null;
  app.addHook('onReady', async () => {
    purge();
    timer = setInterval(purge, IDEMPOTENCY_PURGE_MS).unref();
  });
  app.addHook('onClose', async () => {
    if (timer) clearInterval(timer);
    await running;
  });
}
