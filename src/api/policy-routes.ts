import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { Services } from '../services.js';
import { actorOf } from './auth.js';
import { answerOnce } from './idempotency.js';
import { decodeCursor, PAGE_SIZE, pageOf } from '../licensing/paging.js';
import { PolicyCreateInput, PolicyUpdateInput } from '../licensing/schemas/policy.js';
import { body, describe, errorResponses, IdempotencyHeaders, IdParams, NoContent, one, page, Pagination } from './schemas.js';

export function policyRoutes(scope: FastifyInstance, services: Services): void {
  const api = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { policies, idempotency } = services;

  api.get(
    '/policies',
    {
      config: { scope: 'policies:read' },
      schema: {
        ...describe('policies', 'listPolicies', 'List policies by id', 'policies:read'),
        querystring: Type.Object(Pagination, { additionalProperties: false }),
        response: { 200: page('Policy', 'A page of policies'), ...errorResponses() },
      },
    },
    async (req) => {
      const afterId = decodeCursor('policies', req.query.cursor);
      const limit = req.query.limit ?? PAGE_SIZE.default;
      // Policies are few (a seller's price list): the page is cut from the whole list.
      const all = await policies.list();
      return pageOf(all.filter((p) => afterId === undefined || p.id > afterId).slice(0, limit + 1), limit, 'policies');
    },
  );

  api.post(
    '/policies',
    {
      config: { scope: 'policies:write' },
      schema: {
        ...describe('policies', 'createPolicy', 'Create a policy: a template licenses are issued from', 'policies:write'),
        headers: IdempotencyHeaders,
        body: body(PolicyCreateInput),
        response: { 201: one('Policy'), ...errorResponses(404, 409, 422) },
      },
    },
    async (req, reply) => answerOnce(req, reply, idempotency, 201, () => policies.create(req.body, actorOf(req))),
  );

  api.get(
    '/policies/:id',
    {
      config: { scope: 'policies:read' },
      schema: {
        ...describe('policies', 'getPolicy', 'Show a policy', 'policies:read'),
        params: IdParams,
        response: { 200: one('Policy'), ...errorResponses(404) },
      },
    },
    async (req) => policies.get(req.params.id),
  );

  api.patch(
    '/policies/:id',
    {
      config: { scope: 'policies:write' },
      schema: {
        ...describe(
          'policies',
          'updatePolicy',
          'Change a policy; only the fields sent change. Its licenses keep their products and expiry; every other field applies to them at once',
          'policies:write',
        ),
        params: IdParams,
        body: body(PolicyUpdateInput, { atLeastOne: true }),
        response: { 200: one('Policy'), ...errorResponses(404) },
      },
    },
    async (req) => policies.update(req.params.id, req.body, actorOf(req)),
  );

  api.delete(
    '/policies/:id',
    {
      config: { scope: 'policies:write' },
      schema: {
        ...describe('policies', 'deletePolicy', 'Delete a policy; refused (409) while a license follows it', 'policies:write'),
        params: IdParams,
        response: { 204: NoContent, ...errorResponses(404, 409) },
      },
    },
    async (req, reply) => {
      await policies.delete(req.params.id, actorOf(req));
      return reply.code(204).send(null);
    },
  );
}
