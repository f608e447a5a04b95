import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Metrics } from './metrics.js';

/** GET /metrics in Prometheus text format; with METRICS_TOKEN, only for `Authorization: Bearer <token>`. */
export async function metricsRoute(app: FastifyInstance, opts: { metrics: Metrics; token?: string }): Promise<void> {
  const expected = opts.token ? Buffer.from(`Bearer ${opts.token}`) : null;
  app.get('/metrics', async (req, reply) => {
    if (expected) {
      const given = Buffer.from(req.headers.authorization ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return reply.code(401).header('www-authenticate', 'Bearer').send({ error: { code: 'unauthorized', message: 'a metrics token is required' } });
      }
    }
    const { body, contentType } = await opts.metrics.text();
    return reply.header('content-type', contentType).send(body);
  });
}
