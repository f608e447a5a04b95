import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { runWhileOpen } from '../app-jobs.js';
import type { Internals, Services } from '../services.js';
import { CheckEventForwarder } from './check-events.js';
import { DeliveryWorker } from './delivery-worker.js';
import type { WebhookSettings } from './settings.js';

const PURGE_EVERY_MS = 3600_000;

/**
 * Runs webhook delivery inside the server: the worker starts when the app is ready and stops
 * (finishing the deliveries in flight) when it closes; check events are forwarded in batches.
 */
export function startWebhooks(app: FastifyInstance, services: Services, internal: Internals, settings: WebhookSettings, logger: Logger): void {
  const { repo, queue, checkEvents } = internal.webhookDelivery;
  const worker = new DeliveryWorker(repo, internal.storage.changes, {
    ...settings,
    allowPrivate: services.config.WEBHOOK_ALLOW_PRIVATE,
    log: logger,
    secretOf: (endpoint) => services.webhooks.secretOf(endpoint),
  });
  const forwarder = new CheckEventForwarder(checkEvents, queue, {
    checkFailedPerMinute: settings.checkFailedPerMinute,
    onError: (err) => logger.error({ err }, 'queuing check webhook events failed'),
  });
  app.addHook('onReady', async () => worker.start());
  // The delivery log keeps finished deliveries WEBHOOK_LOG_DAYS days; pending ones always stay.
  runWhileOpen(
    app,
    PURGE_EVERY_MS,
    () => repo.purgeFinished(Date.now() - settings.logDays * 86_400_000),
    (err) => logger.error({ err }, 'purging the webhook delivery log failed'),
  );
  app.addHook('onClose', async () => {
    await forwarder.close();
    await worker.stop();
  });
}
