import Fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { Answers } from './check/answers.js';
import type { Config } from './config.js';
import type { Services } from './services.js';
import { checkRoutes, JSON_TYPE, type CheckRouteDeps } from './check/check-routes.js';

export interface AppDeps extends CheckRouteDeps {
  config: Config;
  services: Services;
  logger: Logger;
  answers: Answers;
}

/** Builds the HTTP app: infrastructure first (errors, 404, health), then the features. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger,
    // No log line per check: at license-check rates that is noise and cost.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimit,
    requestTimeout: 30_000,
    // Keep answering requests that arrive on open connections while a graceful stop drains.
    return503OnClosing: false,
    frameworkErrors: (_err, req, res) => {
      // A malformed URL (e.g. bad percent-encoding in the product id) names no product.
      const onCheckPath = (req.raw.url ?? '').startsWith('/api/check');
      (res as unknown as FastifyReply)
        .code(onCheckPath ? 200 : 400)
        .header('content-type', JSON_TYPE)
        .send(onCheckPath ? deps.answers.single({ status: 'NOT FOUND', reason: 'product', productId: null }) : deps.answers.badRequest);
    },
  }) as unknown as FastifyInstance;

  app.setNotFoundHandler((_req, reply) => {
    reply.code(404).header('content-type', JSON_TYPE).send(deps.answers.unknownRoute);
  });
  app.get('/healthz', async () => ({ ok: true }));

  // Features, each in its own folder and scope, in this order: the hot path first.
  await app.register(async (scope) => checkRoutes(scope, deps));
  return app;
}
