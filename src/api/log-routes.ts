import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { Services } from '../services.js';
import { decodeCursor, PAGE_SIZE, pageOf } from '../licensing/paging.js';
import { AuditFilters, CheckFilters, TimeFilter } from '../licensing/schemas/log.js';
import { describe, errorResponses, page, Pagination } from './schemas.js';
import { timeParam } from './time-filter.js';

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
            ...CheckFilters,
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
      const limit = q.limit ?? PAGE_SIZE.default;
      const rows = await logs.checks({
        licenseId: q.licenseId,
        productId: q.productId,
        status: q.status,
        from: timeParam('from', q.from),
        to: timeParam('to', q.to),
        beforeId: decodeCursor('checks', q.cursor),
        limit: limit + 1,
      });
      return pageOf(rows, limit, 'checks');
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
            ...AuditFilters,
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
      const limit = q.limit ?? PAGE_SIZE.default;
      const rows = await logs.audit({
        actor: q.actor,
        action: q.action,
        targetType: q.targetType,
        targetId: q.targetId,
        from: timeParam('from', q.from),
        to: timeParam('to', q.to),
        beforeId: decodeCursor('audit', q.cursor),
        limit: limit + 1,
      });
      return pageOf(rows, limit, 'audit');
    },
  );
}
