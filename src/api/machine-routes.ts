import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { Services } from '../services.js';
import { actorOf } from './auth.js';
import { decodeCursor, PAGE_SIZE, pageOf } from '../licensing/paging.js';
import { Id } from '../licensing/schemas/common.js';
import { describe, errorResponses, IdParams, NoContent, page, Pagination } from './schemas.js';

const MachineParams = Type.Object({ id: Id, machineId: Id }, { additionalProperties: false });

/** A license's machines, under the license: seeing them is reading the license, freeing one is changing it. */
export function machineRoutes(scope: FastifyInstance, services: Services): void {
  const api = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { machines } = services;

  api.get(
    '/licenses/:id/machines',
    {
      config: { scope: 'licenses:read' },
      schema: {
        ...describe('machines', 'listMachines', "List a license's machines, oldest first (dead ones too, until the sweep frees them)", 'licenses:read'),
        params: IdParams,
        querystring: Type.Object(Pagination, { additionalProperties: false }),
        response: { 200: page('Machine', "A page of the license's machines"), ...errorResponses(404) },
      },
    },
    async (req) => {
      const afterId = decodeCursor('machines', req.query.cursor);
      const limit = req.query.limit ?? PAGE_SIZE.default;
      // At most the license's machine limit: the page is cut from the whole list.
      const { machines: all } = await machines.list(req.params.id);
      return pageOf(all.filter((m) => afterId === undefined || m.id > afterId).slice(0, limit + 1), limit, 'machines');
    },
  );

  api.delete(
    '/licenses/:id/machines/:machineId',
    {
      config: { scope: 'licenses:write' },
      schema: {
        ...describe('machines', 'deactivateMachine', 'Free a machine of the license (staff: no daily allowance is spent)', 'licenses:write'),
        params: MachineParams,
        response: { 204: NoContent, ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      await machines.deactivateById(req.params.machineId, actorOf(req), req.params.id);
      return reply.code(204).send(null);
    },
  );
}
