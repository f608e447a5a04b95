import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import type { Answers } from './check/answers.js';
import type { Config } from './config.js';
import type { Internals, Services } from './services.js';
import { createCheckHandler, JSON_TYPE, type CheckHandlerDeps } from './check/check-handler.js';
import { publicKeyRoute } from './check/public-key-route.js';
import { Metrics } from './metrics/metrics.js';
import { metricsRoute } from './metrics/metrics-route.js';
import { checkAssets } from './dashboard/paths.js';
import { startIdempotencyPurge } from './api/idempotency-purge.js';
import { startWebhooks } from './webhooks/start.js';

export interface AppDeps extends CheckHandlerDeps {
  config: Config;
  services: Services;
  /** The server's own parts below the services (webhook delivery); the features never get them. */
  internal: Internals;
  logger: Logger;
  answers: Answers;
}

export interface App {
  /** The Fastify app that owns the HTTP server: health, public key, metrics, background jobs. */
  core: FastifyInstance;
  /** The management API and the dashboard, loaded on the first request that needs them. */
  features(): Promise<FastifyInstance>;
}

/** Paths the core app answers itself; every other path that is not a check goes to the features. */
const CORE_PATHS = new Set(['/healthz', '/api/public-key', '/metrics']);

/**
 * Builds the HTTP app in three layers:
 * 1. license checks, answered by the check handler straight from node:http;
 * 2. the core Fastify app (owns the server; health, public key, metrics, background jobs);
 * 3. the management API and the dashboard, in their own Fastify app that is imported and built on
 *    the first request for one of their pages. They are most of the code; a server that only
 *    answers checks (most instances of a fleet) never loads them and stays small.
 */
export async function buildApp(deps: AppDeps): Promise<App> {
  const { config, services, logger } = deps;
  // What the features need when they load is checked now, so a broken install fails at start.
  checkAssets();

  const checks = createCheckHandler(deps);
  let features: Promise<FastifyInstance> | null = null;
  let closing = false;
  const loadFeatures = (): Promise<FastifyInstance> => {
    features ??= buildFeatures(deps).catch((err: unknown) => {
      features = null; // the next request tries again
      throw err;
    });
    return features;
  };
  let ready: FastifyInstance | null = null;
  const unavailable = (res: ServerResponse): void => {
    if (!res.headersSent) res.writeHead(503, { 'content-type': JSON_TYPE, 'retry-after': '5' }).end(deps.answers.unavailable);
  };
  const serveFeatures = (req: IncomingMessage, res: ServerResponse): void => {
    if (ready) return ready.routing(req, res);
    // Not worth loading for a server on its way out.
    if (closing) return unavailable(res);
    loadFeatures().then(
      (app) => {
        ready = app;
        app.routing(req, res);
      },
      (err: unknown) => {
        logger.error({ err }, 'loading the management API and dashboard failed');
        unavailable(res);
      },
    );
  };

  const core = Fastify({
    ...sharedOptions(deps),
    serverFactory: (handler) => {
      const server = http.createServer((req, res) => {
        if (checks(req, res)) return;
        const url = req.url ?? '/';
        const q = url.indexOf('?');
        if (CORE_PATHS.has(q === -1 ? url : url.slice(0, q))) handler(req, res);
        else serveFeatures(req, res);
      });
      server.requestTimeout = 30_000;
      server.keepAliveTimeout = 72_000;
      return server;
    },
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
  }) as unknown as FastifyInstance;

  unknownRoutes(core, deps.answers);
  core.get('/healthz', async () => ({ ok: true }));
  await core.register(publicKeyRoute, { signingKeys: services.signingKeys });
  if (deps.metrics instanceof Metrics) await core.register(metricsRoute, { metrics: deps.metrics, token: config.METRICS_TOKEN });
  // Background work runs in every server, whether or not anyone opens the API or the dashboard.
  startWebhooks(core, services, deps.internal, logger);
  startIdempotencyPurge(core, services, logger);
  core.addHook('preClose', async () => {
    closing = true;
  });
  // onClose runs once the requests in flight are done, so the features app has nothing left to serve.
  core.addHook('onClose', async () => {
    const loaded = await features?.catch(() => null);
    await loaded?.close();
  });
  return { core, features: loadFeatures };
}

/** The management API and the dashboard, each in its own folder and scope, in this order. */
async function buildFeatures(deps: AppDeps): Promise<FastifyInstance> {
  const [{ managementApi }, { dashboard }] = await Promise.all([import('./api/plugin.js'), import('./dashboard/dashboard-plugin.js')]);
  const app = Fastify(sharedOptions(deps)) as unknown as FastifyInstance;
  try {
    unknownRoutes(app, deps.answers);
    await app.register(managementApi, { config: deps.config, services: deps.services, logger: deps.logger });
    await app.register(dashboard, { config: deps.config, services: deps.services });
    await app.ready();
  } catch (err) {
    // Whatever did start (a Redis client for the rate limit, timers) stops before the next try.
    await app.close().catch(() => {});
    throw err;
  }
  deps.logger.info('management API and dashboard loaded');
  return app;
}

/** What both Fastify apps are built with. */
function sharedOptions(deps: AppDeps): FastifyServerOptions {
  return {
    loggerInstance: deps.logger,
    // No log line per request: at license-check rates that is noise and cost.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimit,
    // Keep answering requests that arrive on open connections while a graceful stop drains.
    return503OnClosing: false,
    frameworkErrors: (_err, req, res) => {
      // A malformed URL (bad percent-encoding): the management API answers in its own error shape.
      const body = (req.raw.url ?? '').startsWith('/api/v1')
        ? JSON.stringify({ error: { code: 'invalid_input', message: 'the request URL is malformed' } })
        : deps.answers.badRequest;
      (res as unknown as FastifyReply).code(400).header('content-type', JSON_TYPE).send(body);
    },
  } as FastifyServerOptions;
}

function unknownRoutes(app: FastifyInstance, answers: Answers): void {
  app.setNotFoundHandler((_req, reply) => {
    reply.code(404).header('content-type', JSON_TYPE).send(answers.unknownRoute);
  });
}
