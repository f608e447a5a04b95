import type { FastifyRequest } from 'fastify';
import type { CurrentUser, ResolvedSession } from './auth/session-service.js';

/** What the session hook learned about a request; kept off the request object's type on purpose. */
const sessions = new WeakMap<FastifyRequest, ResolvedSession>();

export function setSession(req: FastifyRequest, session: ResolvedSession): void {
  sessions.set(req, session);
}

/** The fully signed-in user (second factor done), or null. */
export function viewer(req: FastifyRequest): CurrentUser | null {
  const s = sessions.get(req);
  return s && s.stage === 'full' ? s.user : null;
}

/** The session whatever its stage (a password-only session still owes its second factor). */
export const sessionOf = (req: FastifyRequest): ResolvedSession | null => sessions.get(req) ?? null;

/** Who the audit log names for a dashboard change. */
export const actorOf = (user: CurrentUser): string => `user:${user.username}`;

export const isStaff = (user: CurrentUser | null): boolean => user?.role === 'staff' || user?.role === 'admin';
