import type { FastifyReply, FastifyRequest } from 'fastify';
import { KeywardError, type ErrorCode } from '../errors.js';
import { positiveInt } from './forms.js';
import type { Pages } from './pages.js';

export type WithId = FastifyRequest<{ Params: { id: string } }>;

/**
 * Loads what a route's `:id` names, or answers the dashboard's 404 page and gives null (the reply
 * is then sent). An id that is no positive whole number, a `load` that gives null (not yours) and
 * the service's `missing` error all look the same, so a page never tells them apart.
 */
export function loadOr404<T>(
  pages: Pages,
  what: string,
  missing: ErrorCode,
  load: (id: number, req: WithId) => Promise<T | null>,
): (req: WithId, reply: FastifyReply) => Promise<T | null> {
  return async (req, reply) => {
    const found = await loadById(req, missing, load);
    if (found === null) pages.notFound(req, reply, what);
    return found;
  };
}

async function loadById<T>(req: WithId, missing: ErrorCode, load: (id: number, req: WithId) => Promise<T | null>): Promise<T | null> {
  const id = positiveInt(req.params.id);
  if (id === undefined) return null;
  try {
    return await load(id, req);
  } catch (err) {
    if (err instanceof KeywardError && err.code === missing) return null;
    throw err;
  }
}
