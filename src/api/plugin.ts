import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyError, FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { KeywardError } from '../errors.js';
import type { Services } from '../services.js';
import { apiErrorHandler, sendError } from './api-errors.js';
import { bearerToken, principalOf, requireTokens } from './auth.js';
import { licenseFileRoutes } from './license-file-routes.js';
import { licenseRoutes } from './license-routes.js';
import { logRoutes } from './log-routes.js';
import { machineRoutes } from './machine-routes.js';
import { openapiOptions } from './openapi.js';
import { policyRoutes } from './policy-routes.js';
import { productRoutes } from './product-routes.js';
import { COMPONENTS } from './schemas.js';
import { digestToken } from '../licensing/token-service.js';
import { usageRoutes } from './usage-routes.js';
import { userRoutes } from './user-routes.js';
import { apiValidatorCompiler } from './validator.js';
import { webhookRoutes } from './webhook-routes.js';

export interface ManagementApiOptions {
  config: Config;
  services: Services;
  logger: Logger;
}

/**
 * The management REST API under /api/v1, its OpenAPI document (/api/v1/openapi.json) and docs
 * page (/docs). Loaded by the server's app on the first request for it (see app.ts); the webhook
 * delivery worker and the Idempotency-Key purge run in the core app, whether or not it is loaded.
 */
export async function managementApi(app: FastifyInstance, options: ManagementApiOptions): Promise<void> {
  const { services, logger } = options;

  const redis = options.config.REDIS_URL ? await connectRedis(options.config.REDIS_URL) : null;
  if (redis) app.addHook('onClose', async () => redis.disconnect());

  await app.register(swagger, openapiOptions(options.config));
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { url: '/api/v1/openapi.json', deepLinking: true }, staticCSP: true });

  await app.register(
    async (api) => {
      api.setValidatorCompiler(apiValidatorCompiler);
      api.setErrorHandler((err: FastifyError, req, reply) => apiErrorHandler(err, req, reply));
      api.setNotFoundHandler((_req, reply) => sendError(reply, 'route_not_found', 'unknown endpoint; the API is described at /api/v1/openapi.json'));
      for (const schema of COMPONENTS) api.addSchema(schema);
      // Clients often send Content-Type: application/json with no body (DELETE, regenerate).
      api.removeContentTypeParser('application/json');
      api.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
        if ((body as string).trim() === '') return done(null, undefined);
        try {
          done(null, JSON.parse(body as string, (key, value: unknown) => (key === '__proto__' ? undefined : value)));
        } catch {
          done(new KeywardError('invalid_input', 'the body is not valid JSON'), undefined);
        }
      });

      // Per live token, else per client IP: a bearer value that names no token (a random one on
      // each request) counts against the caller's address like no token at all.
      await api.register(rateLimit, {
        max: options.config.API_RATE_LIMIT,
        timeWindow: 60_000,
        // With REDIS_URL every instance counts against the same limit; if Redis fails, requests pass.
        ...(redis ? { redis, nameSpace: 'keyward:api-rate:', skipOnError: true } : {}),
        keyGenerator: async (req) => {
          // By the token's digest, not its id: deployments sharing one Redis never share a count.
          const principal = await principalOf(req, services.tokens).catch(() => null);
          return principal ? `t:${digestToken(bearerToken(req.headers.authorization)!)}` : `ip:${req.ip}`;
        },
        errorResponseBuilder: (_req, ctx) => new KeywardError('rate_limited', `too many requests; retry in ${ctx.after}`),
      });
      requireTokens(api, services.tokens);

      api.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
      productRoutes(api, services);
      licenseRoutes(api, services);
      machineRoutes(api, services);
      usageRoutes(api, services);
      licenseFileRoutes(api, services);
      policyRoutes(api, services);
      userRoutes(api, services);
      logRoutes(api, services);
      webhookRoutes(api, services);
    },
    { prefix: '/api/v1' },
  );

  app.addHook('onClose', async () => {
    await services.tokens.flushUsage().catch((err: unknown) => logger.error({ err }, 'recording API token use failed'));
  });
}

/** A Redis client for the shared rate-limit store; loaded only when REDIS_URL is set. */
async function connectRedis(url: string) {
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout: 500 });
  redis.on('error', () => {});
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new Error(`REDIS_URL: cannot reach Redis (${(err as Error).message})`);
  }
  return redis;
}
