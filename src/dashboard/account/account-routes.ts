import type { FastifyInstance } from 'fastify';
import { KeywardError } from '../../errors.js';
import type { DashboardContext } from '../context.js';
import { formOf, text, trimmed } from '../forms.js';
import { me, signedIn } from '../guards.js';
import { actorOf, isStaff, sessionOf } from '../request-state.js';

/** /account: password, two-factor (staff and admins), Discord link, sessions and "sign out everywhere". */
export async function accountRoutes(app: FastifyInstance, ctx: DashboardContext): Promise<void> {
  const { pages, twoFactor, sessions, services } = ctx;
  app.addHook('preHandler', signedIn(ctx));

  app.get('/account', async (req, reply) => {
    const user = me(req);
    const current = sessionOf(req)!.sessionId;
    const list = (await sessions.list(user.id)).map((s) => ({
      current: s.id === current,
      ip: s.ip,
      userAgent: s.user_agent,
      created: new Date(s.created_at).toISOString(),
      lastSeen: new Date(s.last_seen_at).toISOString(),
    }));
    const enrolment = isStaff(user) && !user.totpEnabled ? await twoFactor.pending(user.id, user.username) : null;
    return pages.send(req, reply, 'account', { title: 'Your account', sessions: list, enrolment, canTotp: isStaff(user) });
  });

  app.post('/account/password', async (req, reply) => {
    const user = me(req);
    const form = formOf(req);
    const ip = ctx.clientIp(req);
    const reserved = await ctx.throttle.password(user.username, ip);
    if (!reserved.allowed) return ctx.redirect(reply, '/account', 'error', 'Too many wrong passwords. Try again later.');
    if (!(await services.users.verifyPassword(user.username, text(form, 'current')))) {
      await reserved.attempt.counted();
      return ctx.redirect(reply, '/account', 'error', 'Your current password is not right.');
    }
    await reserved.attempt.succeeded();
    if (text(form, 'password') !== text(form, 'password2')) return ctx.redirect(reply, '/account', 'error', 'The two new passwords differ.');
    try {
      await services.users.setPassword(user.id, text(form, 'password'), actorOf(user));
    } catch (err) {
      if (err instanceof KeywardError) return ctx.redirect(reply, '/account', 'error', err.message);
      throw err;
    }
    // A new password ends every other session: whoever knew the old one is out.
    await sessions.endAll(user.id);
    const session = await sessions.start(user.id, 'full', { ip, userAgent: req.headers['user-agent'] ?? null });
    ctx.cookie.set(reply, session.token, session.maxAgeSeconds);
    return ctx.redirect(reply, '/account', 'ok', 'Password changed. Other devices were signed out.');
  });

  app.post('/account/totp/begin', async (req, reply) => {
    const user = me(req);
    if (!isStaff(user)) return pages.forbidden(req, reply, 'Two-factor sign-in is for staff and admin accounts.');
    if (user.totpEnabled) return ctx.redirect(reply, '/account', 'error', 'Two-factor sign-in is already on.');
    await twoFactor.begin(user.id, user.username);
    return ctx.redirect(reply, '/account#two-factor', 'ok', 'Add the key to your authenticator app, then enter a code to finish.');
  });

  app.post('/account/totp/confirm', async (req, reply) => {
    const user = me(req);
    if (!isStaff(user)) return pages.forbidden(req, reply, 'Two-factor sign-in is for staff and admin accounts.');
    if (!(await twoFactor.confirm(user.id, trimmed(formOf(req), 'code'), actorOf(user)))) {
      return ctx.redirect(reply, '/account#two-factor', 'error', 'That code is not right. Check the time on your device and try again.');
    }
    return ctx.redirect(reply, '/account', 'ok', 'Two-factor sign-in is on. You will be asked for a code when you sign in.');
  });

  app.post('/account/totp/disable', async (req, reply) => {
    const user = me(req);
    if (!user.totpEnabled) return ctx.redirect(reply, '/account', 'error', 'Two-factor sign-in is not on.');
    // Guessed codes here count with the sign-in's: the same limit, the same lock.
    const reserved = await ctx.throttle.secondFactor(user.id, ctx.clientIp(req));
    if (!reserved.allowed) return ctx.redirect(reply, '/account#two-factor', 'error', 'Too many wrong codes; two-factor sign-in stays on. Try again later.');
    if (!(await twoFactor.verify(user.id, trimmed(formOf(req), 'code')))) {
      await reserved.attempt.counted();
      return ctx.redirect(reply, '/account#two-factor', 'error', 'That code is not right; two-factor sign-in stays on.');
    }
    await reserved.attempt.succeeded();
    await twoFactor.disable(user.id, actorOf(user));
    return ctx.redirect(reply, '/account', 'ok', 'Two-factor sign-in is off.');
  });

  app.post('/account/discord/unlink', async (req, reply) => {
    const user = me(req);
    await services.users.update(user.id, { discordId: null }, actorOf(user));
    return ctx.redirect(reply, '/account', 'ok', 'Discord is no longer linked to this account.');
  });
}
