import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { runWhileOpen } from '../app-jobs.js';
import type { Services } from '../services.js';

const IDEMPOTENCY_PURGE_MS = 3600_000;

/** Deletes expired Idempotency-Keys hourly (and once at start) while the server runs. */
export function startIdempotencyPurge(app: FastifyInstance, services: Services, logger: Logger): void {
  runWhileOpen(
    app,
    IDEMPOTENCY_PURGE_MS,
    () => services.idempotency.purgeExpired(),
    (err) => logger.error({ err }, 'purging old Idempotency-Keys failed'),
  );
}
