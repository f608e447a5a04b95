import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { KeywardError } from '../../errors.js';
import { cut } from '../../licensing/paging.js';
import { checkInput } from '../../licensing/schemas/check-input.js';
import { RoleSchema } from '../../licensing/schemas/user.js';
import { mayChangeUser, ROLES, type UserCaller } from '../../licensing/user-service.js';
import type { CurrentUser } from '../auth/session-service.js';
import type { DashboardContext } from '../context.js';
import { checked, formOf, optional, positiveInt, queryOf, text, trimmed } from '../forms.js';
import { me } from '../guards.js';
import { loadOr404, type WithId } from '../load-by-id.js';
import { actorOf } from '../request-state.js';

const USERS_PER_PAGE = 50;
type UserJson = Awaited<ReturnType<DashboardContext['services']['users']['get']>>;

/** The signed-in person's rights over users, for UserService (which holds the rules). */
export const callerOf = (user: CurrentUser): UserCaller => ({ admin: user.role === 'admin', userId: user.id });

/**
 * /staff/users: list/search, create, edit, disable sign-in, reset password, sign out; roles for
 * admins only. Who may change whom (staff: customers; admins: everyone), the last admin and "not
 * your own sign-in" are UserService's rules; these routes show its refusals.
 */
export async function userRoutes(app: FastifyInstance, ctx: DashboardContext): Promise<void> {
  const { pages } = ctx;
  const { users, licenses } = ctx.services;

  const find = loadOr404(pages, 'user', 'user_not_found', (id) => users.get(id));
  const refuse = (req: FastifyRequest, reply: FastifyReply) =>
    pages.forbidden(req, reply, 'Only an admin may change staff and admin accounts or roles.');
  const fail = (req: FastifyRequest, reply: FastifyReply, to: string, err: unknown) => {
    if (err instanceof KeywardError && err.code === 'forbidden') return refuse(req, reply);
    if (err instanceof KeywardError) return ctx.redirect(reply, to, 'error', err.message);
    throw err;
  };

  app.get('/staff/users', async (req, reply) => {
    const q = queryOf(req);
    const role = ROLES.find((r) => r === text(q, 'role'));
    const afterId = positiveInt(optional(q, 'after'));
    const page = cut(await users.list({ q: optional(q, 'q'), role, afterId, limit: USERS_PER_PAGE + 1 }), USERS_PER_PAGE);
    const params = new URLSearchParams();
    if (optional(q, 'q')) params.set('q', optional(q, 'q')!);
    if (role) params.set('role', role);
    if (page.lastId !== null) params.set('after', String(page.lastId));
    return pages.send(req, reply, 'staff/users', {
      title: 'Users',
      users: page.items,
      filter: { q: optional(q, 'q') ?? '', role: role ?? '' },
      roles: ROLES,
      next: page.lastId !== null ? `?${params.toString()}` : null,
    });
  });

  app.post('/staff/users', async (req, reply) => {
    const actor = me(req);
    const form = formOf(req);
    const password = text(form, 'password');
    try {
      const role = checkInput(RoleSchema, text(form, 'role') || 'customer', 'role');
      const created = await users.create(
        { username: trimmed(form, 'username'), email: optional(form, 'email') ?? null, password: password === '' ? undefined : password, role },
        actorOf(actor),
        callerOf(actor),
      );
      if (created.password) {
        return pages.send(req, reply, 'password-shown', { title: 'User created', created, password: created.password });
      }
      return ctx.redirect(reply, `/staff/users/${created.id}`, 'ok', `User ${created.username} created.`);
    } catch (err) {
      return fail(req, reply, '/staff/users', err);
    }
  });

  app.get('/staff/users/:id', async (req: WithId, reply) => {
    const target = await find(req, reply);
    if (!target) return reply;
    const actor = me(req);
    const { items } = await licenses.search({ ownerId: target.id, limit: 200 });
    const described = await ctx.sessions.describe(target.id);
    return pages.send(req, reply, 'staff/user', {
      title: target.username,
      target,
      totpEnabled: described?.totpEnabled ?? false,
      licenses: items,
      manage: mayChangeUser(callerOf(actor), target),
      isAdmin: actor.role === 'admin',
      self: actor.id === target.id,
      roles: ROLES,
    });
  });

  app.post('/staff/users/:id', async (req: WithId, reply) => {
    const target = await find(req, reply);
    if (!target) return reply;
    const form = formOf(req);
    const back = `/staff/users/${target.id}`;
    try {
      await users.update(target.id, { email: optional(form, 'email') ?? null, discordId: optional(form, 'discordId') ?? null }, actorOf(me(req)), callerOf(me(req)));
    } catch (err) {
      return fail(req, reply, back, err);
    }
    return ctx.redirect(reply, back, 'ok', 'User saved.');
  });

  app.post('/staff/users/:id/role', async (req: WithId, reply) => {
    const target = await find(req, reply);
    if (!target) return reply;
    // Only admins see the role form; the service refuses anyone else the staff and admin roles.
    const back = `/staff/users/${target.id}`;
    let role;
    try {
      role = checkInput(RoleSchema, text(formOf(req), 'role'), 'role');
      await users.update(target.id, { role }, actorOf(me(req)), callerOf(me(req)));
    } catch (err) {
      return fail(req, reply, back, err);
    }
    return ctx.redirect(reply, back, 'ok', `Role changed to ${role}.`);
  });

  app.post('/staff/users/:id/disable', async (req: WithId, reply) => {
    const target = await find(req, reply);
    if (!target) return reply;
    const actor = me(req);
    const back = `/staff/users/${target.id}`;
    const disabled = checked(formOf(req), 'disabled');
    try {
      // Disabling also ends every session of the user (the service does it, on every surface).
      await users.update(target.id, { disabled }, actorOf(actor), callerOf(actor));
    } catch (err) {
      return fail(req, reply, back, err);
    }
    return ctx.redirect(reply, back, 'ok', disabled ? 'Sign-in disabled and every session ended.' : 'Sign-in enabled.');
  });

  app.post('/staff/users/:id/password', async (req: WithId, reply) => {
    const target = await find(req, reply);
    if (!target) return reply;
    const back = `/staff/users/${target.id}`;
    try {
      await users.setPassword(target.id, text(formOf(req), 'password'), actorOf(me(req)), callerOf(me(req)));
    } catch (err) {
      return fail(req, reply, back, err);
    }
    await ctx.sessions.endAll(target.id);
    return ctx.redirect(reply, back, 'ok', 'Password set; the user was signed out everywhere.');
  });

  app.post('/staff/users/:id/signout', async (req: WithId, reply) => {
    const target = await find(req, reply);
    if (!target) return reply;
    if (!mayChangeUser(callerOf(me(req)), target)) return refuse(req, reply);
    const ended = await ctx.sessions.endAll(target.id);
    return ctx.redirect(reply, `/staff/users/${target.id}`, 'ok', `${ended} session(s) ended.`);
  });

  app.post('/staff/users/:id/totp-reset', async (req: WithId, reply) => {
    const target = await find(req, reply);
    if (!target) return reply;
    if (me(req).role !== 'admin') return refuse(req, reply);
    await ctx.twoFactor.disable(target.id, actorOf(me(req)));
    return ctx.redirect(reply, `/staff/users/${target.id}`, 'ok', 'Two-factor sign-in removed; the user can enrol again.');
  });
}
