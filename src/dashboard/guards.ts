import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CurrentUser } from './auth/session-service.js';
import type { DashboardContext } from './context.js';
import { isStaff, viewer } from './request-state.js';

/**
 * Route guards, run as preHandler hooks of each area. Every page and action is authorised here
 * on the server; links the layout hides are not the protection.
 */
export function signedIn(ctx: DashboardContext) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    if (viewer(req)) return;
    const next = req.method === 'GET' ? `?next=${encodeURIComponent(req.url)}` : '';
    return reply.redirect(`/login${next}`, 303);
  };
}

export function staffOnly(ctx: DashboardContext) {
  const needUser = signedIn(ctx);
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const user = viewer(req);
    if (!user) return needUser(req, reply);
    if (!isStaff(user)) return ctx.pages.forbidden(req, reply, 'This page is for staff.');
  };
}

/** The signed-in user; only call behind a guard. */
export function me(req: FastifyRequest): CurrentUser {
  const user = viewer(req);
  if (!user) throw new Error('route reached without a signed-in user');
  return user;
}
