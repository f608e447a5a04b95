import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { runWhileOpen } from '../app-jobs.js';
import type { Internals, Services } from '../services.js';
import { CheckEventForwarder } from './check-events.js';
import { DeliveryWorker } from './delivery-worker.js';

const PURGE_EVERY_MS = 3600_000;

/**
 * Runs webhook delivery inside the server: the worker starts when the app is ready and stops
 * (finishing the deliveries in flight) when it closes; check events are forwarded in batches.
 */
export function startWebhooks(app: FastifyInstance, services: Services, internal: Internals, logger: Logger): void {
  const { config } = services;
  const { repo, queue, checkEvents } = internal.webhookDelivery;
  const worker = new DeliveryWorker(repo, internal.storage.changes, {
    retryBaseMs: config.WEBHOOK_RETRY_BASE_MS,
    pollMs: config.WEBHOOK_POLL_MS,
    timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    allowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
    log: logger,
    secretOf: (endpoint) => services.webhooks.secretOf(endpoint),
  });
  const forwarder = new CheckEventForwarder(checkEvents, queue, {
    checkFailedPerMinute: config.WEBHOOK_CHECK_FAILED_PER_MINUTE,
    onError: (err) => logger.error({ err }, 'queuing check webhook events failed'),
  });
  app.addHook('onReady', async () => worker.start());
  // The delivery log keeps finished deliveries WEBHOOK_LOG_DAYS days; pending ones always stay.
  runWhileOpen(
    app,
    PURGE_EVERY_MS,
    () => repo.purgeFinished(Date.now() - config.WEBHOOK_LOG_DAYS * 86_400_000),
    (err) => logger.error({ err }, 'purging the webhook delivery log failed'),
  );
  app.addHook('onClose', async () => {
    await forwarder.close();
    await worker.stop();
  });
}
