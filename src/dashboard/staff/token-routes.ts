import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { KeywardError } from '../../errors.js';
import { SCOPES } from '../../licensing/token-service.js';
import type { DashboardContext } from '../context.js';
import { all, formOf, positiveInt, text, trimmed } from '../forms.js';
import { me } from '../guards.js';
import { actorOf } from '../request-state.js';

type WithId = FastifyRequest<{ Params: { id: string } }>;

/** /staff/tokens: management API tokens (admins only): list, create (shown once), revoke. */
export async function tokenRoutes(app: FastifyInstance, ctx: DashboardContext): Promise<void> {
  const { pages } = ctx;
  const { tokens } = ctx.services;

  // Tokens can do anything their scopes allow, so only admins see or make them.
  app.addHook('preHandler', async (req, reply) => {
    if (me(req).role !== 'admin') return pages.forbidden(req, reply, 'Only an admin may manage API tokens.');
  });

  const fail = (reply: FastifyReply, err: unknown) => {
    if (err instanceof KeywardError) return ctx.redirect(reply, '/staff/tokens', 'error', err.message);
    throw err;
  };

  app.get('/staff/tokens', async (req, reply) => {
    return pages.send(req, reply, 'staff/tokens', { title: 'API tokens', tokens: await tokens.list({ includeRevoked: true }), scopes: SCOPES });
  });

  app.post('/staff/tokens', async (req, reply) => {
    const form = formOf(req);
    try {
      const created = await tokens.create({ name: trimmed(form, 'name'), scopes: all(form, 'scopes') }, actorOf(me(req)));
      return pages.send(req, reply, 'key-shown', {
        title: 'API token created',
        heading: `API token "${created.name}" created`,
        note: 'This is the token. Copy it now: it is shown only this once and cannot be revealed again. Send it as "Authorization: Bearer <token>".',
        key: created.token,
        back: '/staff/tokens',
      });
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.post('/staff/tokens/:id/revoke', async (req: WithId, reply) => {
    const id = positiveInt(req.params.id);
    if (id === undefined) return pages.notFound(req, reply, 'token');
    const ask = pages.askFirst(req, reply, {
      heading: `Revoke API token ${id}?`,
      text: 'Programs using it are refused at once. A revoked token cannot be restored.',
      action: `/staff/tokens/${id}/revoke`,
      button: 'Revoke token',
      cancel: '/staff/tokens',
    });
    if (ask) return ask;
    try {
      const revoked = await tokens.revoke(id, actorOf(me(req)));
      return ctx.redirect(reply, '/staff/tokens', 'ok', `Token "${revoked.name}" revoked.`);
    } catch (err) {
      if (err instanceof KeywardError && err.code === 'token_not_found') return pages.notFound(req, reply, 'token');
      return fail(reply, err);
    }
  });
}
