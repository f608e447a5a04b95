import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { Services } from '../services.js';
import { decodeCursor, DEFAULT_LIMIT, pageOf, timeParam } from './pagination.js';
import { describe, errorResponses, Id, page, Pagination, TimeFilter } from './schemas.js';

const Range = {
  from: Type.Optional({ ...TimeFilter, description: 'Only entries at or after this time (ISO 8601; no zone means UTC)' }),
  to: Type.Optional({ ...TimeFilter, description: 'Only entries before this time' }),
};

/** Previous Auths (`/checks`) and the audit log, newest first. */
export function logRoutes(scope: FastifyInstance, services: Services): void {
  const api = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { logs } = services;

  api.get(
    '/checks',
    {
      config: { scope: 'logs:read' },
      schema: {
        ...describe('logs', 'listChecks', 'List Previous Auths (every logged check), newest first', 'logs:read'),
        querystring: Type.Object(
          {
            licenseId: Type.Optional(Id),
            productId: Type.Optional(Id),
            status: Type.Optional(Type.String({ minLength: 1, maxLength: 40, description: 'e.g. AUTHORISED, NOT FOUND, EXPIRED' })),
            ...Range,
            ...Pagination,
          },
          { additionalProperties: false },
        ),
        response: { 200: page('CheckEntry', 'A page of checks'), ...errorResponses() },
      },
    },
    async (req) => {
      const q = req.query;
      const limit = q.limit ?? DEFAULT_LIMIT;
      const rows = await logs.checks({
        licenseId: q.licenseId,
        productId: q.productId,
        status: q.status,
        from: timeParam('from', q.from),
        to: timeParam('to', q.to),
        beforeId: decodeCursor('c', q.cursor),
        limit: limit + 1,
      });
      return pageOf(rows, limit, 'c');
    },
  );

  api.get(
    '/audit',
    {
      config: { scope: 'logs:read' },
      schema: {
        ...describe('logs', 'listAudit', 'List the audit log (who changed what), newest first', 'logs:read'),
        querystring: Type.Object(
          {
            actor: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'e.g. token:shop' })),
            action: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'e.g. license.created' })),
            targetType: Type.Optional(Type.String({ minLength: 1, maxLength: 40, description: 'license, product, user, token, webhook' })),
            targetId: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
            ...Range,
            ...Pagination,
          },
          { additionalProperties: false },
        ),
        response: { 200: page('AuditEntry', 'A page of audit entries'), ...errorResponses() },
      },
    },
    async (req) => {
      const q = req.query;
      const limit = q.limit ?? DEFAULT_LIMIT;
      const rows = await logs.audit({
        actor: q.actor,
        action: q.action,
        targetType: q.targetType,
        targetId: q.targetId,
        from: timeParam('from', q.from),
        to: timeParam('to', q.to),
        beforeId: decodeCursor('a', q.cursor),
        limit: limit + 1,
      });
      return pageOf(rows, limit, 'a');
    },
  );
}
