import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../services.js';
import { actorOf } from './auth.js';
import { answerOnce } from './idempotency.js';
import { UsageChangeInput } from '../licensing/schemas/usage.js';
import { describe, errorResponses, IdempotencyHeaders, IdParams, one } from './schemas.js';

/** A metered license's usage counter (docs/api.md#usage): reading it is reading the license, changing it is changing it. */
export function usageRoutes(scope: FastifyInstance, services: Services): void {
  const api = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { usage, idempotency } = services;

  api.get(
    '/licenses/:id/usage',
    {
      config: { scope: 'licenses:read' },
      schema: {
        ...describe('usage', 'getUsage', "Show a license's usage counter and the limit in force (its own, else its policy's)", 'licenses:read'),
        params: IdParams,
        response: { 200: one('Usage'), ...errorResponses(404) },
      },
    },
    async (req) => usage.get(req.params.id),
  );

  api.post(
    '/licenses/:id/usage',
    {
      config: { scope: 'licenses:write' },
      schema: {
        ...describe(
          'usage',
          'changeUsage',
          'Change the usage counter with exactly one of `increment` (within the limit), `decrement` (down to 0) or `reset`; audited',
          'licenses:write',
        ),
        params: IdParams,
        headers: IdempotencyHeaders,
        body: UsageChangeInput,
        response: { 200: one('Usage', 'The counter after the change'), ...errorResponses(404, 409, 422) },
      },
    },
    async (req, reply) =>
      answerOnce(req, reply, idempotency, 200, () => {
        const b = req.body;
        // The schema lets exactly one action through.
        const change = b.increment !== undefined ? { increment: b.increment } : b.decrement !== undefined ? { decrement: b.decrement } : { reset: true as const };
        return usage.change(req.params.id, change, actorOf(req));
      }),
  );
}
