import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { Services } from '../services.js';
import { actorOf } from './auth.js';
import { answerOnce } from './idempotency.js';
import { LicenseCreateInput, LicenseFilters, LicenseUpdateInput } from '../licensing/schemas/license.js';
import { body, describe, errorResponses, IdempotencyHeaders, IdParams, NoContent, one, page, Pagination } from './schemas.js';

const CreateBody = body(LicenseCreateInput);
const UpdateBody = body(LicenseUpdateInput, { atLeastOne: true });
const ListQuery = Type.Object({ ...LicenseFilters, ...Pagination }, { additionalProperties: false });

export function licenseRoutes(scope: FastifyInstance, services: Services): void {
  const api = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { licenses, idempotency } = services;

  api.get(
    '/licenses',
    {
      config: { scope: 'licenses:read' },
      schema: {
        ...describe('licenses', 'listLicenses', 'List licenses, oldest first, with filters', 'licenses:read'),
        querystring: ListQuery,
        response: { 200: page('License', 'A page of licenses (never their keys)'), ...errorResponses() },
      },
    },
    async (req) => {
      const q = req.query;
      return licenses.search({ productId: q.productId, owner: q.owner, status: q.status, ip: q.ip, limit: q.limit ?? 100, cursor: q.cursor });
    },
  );

  api.post(
    '/licenses',
    {
      config: { scope: 'licenses:write' },
      schema: {
        ...describe('licenses', 'createLicense', 'Issue a license (from a policy with `policyId`); the answer carries its key, shown this once', 'licenses:write'),
        headers: IdempotencyHeaders,
        body: CreateBody,
        response: { 201: one('LicenseWithKey', 'The new license, with its clear key'), ...errorResponses(404, 409, 422) },
      },
    },
    async (req, reply) =>
      // The whole body (the schema refused unknown fields), so no field the service takes is left out.
      answerOnce(req, reply, idempotency, 201, () => licenses.create(req.body, actorOf(req))),
  );

  api.get(
    '/licenses/:id',
    {
      config: { scope: 'licenses:read' },
      schema: {
        ...describe('licenses', 'getLicense', 'Show a license and its counters (never its key)', 'licenses:read'),
        params: IdParams,
        response: { 200: one('License'), ...errorResponses(404) },
      },
    },
    async (req) => licenses.show(req.params.id),
  );

  api.patch(
    '/licenses/:id',
    {
      config: { scope: 'licenses:write' },
      schema: {
        ...describe('licenses', 'updateLicense', 'Change a license; only the fields sent change', 'licenses:write'),
        params: IdParams,
        body: UpdateBody,
        response: { 200: one('License'), ...errorResponses(404) },
      },
    },
    async (req) => licenses.update(req.params.id, req.body, actorOf(req)),
  );

  api.post(
    '/licenses/:id/regenerate',
    {
      config: { scope: 'licenses:write' },
      schema: {
        ...describe('licenses', 'regenerateLicense', 'Replace the key (the old one stops working); the new key is shown this once', 'licenses:write'),
        params: IdParams,
        headers: IdempotencyHeaders,
        response: { 200: one('LicenseWithKey', 'The license, with its new clear key'), ...errorResponses(404, 409, 422) },
      },
    },
    async (req, reply) => answerOnce(req, reply, idempotency, 200, () => licenses.regenerate(req.params.id, actorOf(req))),
  );

  api.delete(
    '/licenses/:id',
    {
      config: { scope: 'licenses:write' },
      schema: {
        ...describe('licenses', 'deleteLicense', 'Delete a license (its Previous Auths are kept)', 'licenses:write'),
        params: IdParams,
        response: { 204: NoContent, ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      await licenses.delete(req.params.id, actorOf(req));
      return reply.code(204).send(null);
    },
  );
}
