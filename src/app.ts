import http from 'node:http';
import Fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { Answers } from './check/answers.js';
import type { Config } from './config.js';
import type { Services } from './services.js';
import { createCheckHandler, JSON_TYPE, type CheckHandlerDeps } from './check/check-handler.js';
import { publicKeyRoute } from './check/public-key-route.js';
import { Metrics } from './metrics/metrics.js';
import { metricsRoute } from './metrics/metrics-route.js';
import { managementApi } from './api/plugin.js';
import { dashboard } from './dashboard/dashboard-plugin.js';

export interface AppDeps extends CheckHandlerDeps {
  config: Config;
  services: Services;
  logger: Logger;
  answers: Answers;
}

/**
 * Builds the HTTP app. License checks are answered by the check handler straight from node:http;
 * every other request goes to the Fastify app: infrastructure first (errors, 404, health), then
 * the features.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const checks = createCheckHandler(deps);
  const app = Fastify({
    serverFactory: (handler) => {
      const server = http.createServer((req, res) => {
        if (!checks(req, res)) handler(req, res);
      });
      server.requestTimeout = 30_000;
      server.keepAliveTimeout = 72_000;
      return server;
    },
    loggerInstance: deps.logger,
    // No log line per check: at license-check rates that is noise and cost.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimit,
    // Keep answering requests that arrive on open connections while a graceful stop drains.
    return503OnClosing: false,
    // A request Node cannot parse ends its connection: say so, so a keep-alive client does not
    // send its next request into a socket that is about to close.
    clientErrorHandler: (err: NodeJS.ErrnoException, socket) => {
      if (err.code === 'ECONNRESET' || !socket.writable) return socket.destroy();
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      const body = deps.answers.badRequest;
      socket.end(
        `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: ${JSON_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    },
    frameworkErrors: (_err, req, res) => {
      // A malformed URL (bad percent-encoding): the management API answers in its own error shape.
      const body = (req.raw.url ?? '').startsWith('/api/v1')
        ? JSON.stringify({ error: { code: 'invalid_input', message: 'the request URL is malformed' } })
        : deps.answers.badRequest;
      (res as unknown as FastifyReply).code(400).header('content-type', JSON_TYPE).send(body);
    },
  }) as unknown as FastifyInstance;

  app.setNotFoundHandler((_req, reply) => {
    reply.code(404).header('content-type', JSON_TYPE).send(deps.answers.unknownRoute);
  });
  app.get('/healthz', async () => ({ ok: true }));
  await app.register(publicKeyRoute, { signingKeys: deps.services.signingKeys });
  if (deps.metrics instanceof Metrics) await app.register(metricsRoute, { metrics: deps.metrics, token: deps.config.METRICS_TOKEN });

  // Features, each in its own folder and scope, register below in this order.
  await app.register(managementApi, { config: deps.config, services: deps.services, logger: deps.logger });
  await app.register(dashboard, { config: deps.config, services: deps.services });
  return app;
}
