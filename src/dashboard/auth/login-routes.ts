import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { KeywardError } from '../../errors.js';
import type { DashboardContext } from '../context.js';
import { formOf, localPath, queryOf, text, trimmed } from '../forms.js';
import { isStaff, sessionOf, viewer } from '../request-state.js';
import type { CurrentUser } from './session-service.js';

/** Where a user lands after signing in when no `next` was asked for. */
export const homeOf = (user: CurrentUser): string => (isStaff(user) ? '/staff' : '/licenses');

/** Starts a session for the user: a full one, or one that still owes a TOTP code. */
export async function signIn(ctx: DashboardContext, req: FastifyRequest, reply: FastifyReply, user: CurrentUser, next: string) {
  const old = sessionOf(req);
  if (old) await ctx.sessions.end(old.sessionId);
  const stage = user.totpEnabled ? 'totp' : 'full';
  const session = await ctx.sessions.start(user.id, stage, { ip: ctx.clientIp(req), userAgent: req.headers['user-agent'] ?? null });
  ctx.cookie.set(reply, session.token, session.maxAgeSeconds);
  if (stage === 'totp') return reply.redirect(`/login/totp?next=${encodeURIComponent(next)}`, 303);
  return reply.redirect(next === '/' ? homeOf(user) : next, 303);
}

/** /, sign-in (password, then TOTP when enrolled), sign-up when open, sign-out. */
export async function loginRoutes(app: FastifyInstance, ctx: DashboardContext): Promise<void> {
  const { pages, throttle, services } = ctx;

  app.get('/', async (req, reply) => {
    const user = viewer(req);
    return reply.redirect(user ? homeOf(user) : '/login', 303);
  });

  app.get('/login', async (req, reply) => {
    const user = viewer(req);
    const next = localPath(text(queryOf(req), 'next'));
    if (user) return reply.redirect(next === '/' ? homeOf(user) : next, 303);
    return pages.send(req, reply, 'login', { title: 'Sign in', next, login: '' });
  });

  app.post('/login', async (req, reply) => {
    const form = formOf(req);
    const login = trimmed(form, 'login');
    const password = text(form, 'password');
    const next = localPath(text(form, 'next'));
    const ip = ctx.clientIp(req);
    const again = (status: number, error: string) => pages.send(req, reply, 'login', { title: 'Sign in', next, login, error }, status);
    if (!login || !password) return again(400, 'Enter your username (or email) and password.');
    const reserved = await throttle.password(login, ip);
    if (!reserved.allowed) {
      reply.header('retry-after', String(reserved.retryAfterSeconds));
      return again(429, `Too many failed sign-ins. Try again in ${Math.ceil(reserved.retryAfterSeconds / 60)} minute(s).`);
    }
    const found = await services.users.verifyPassword(login, password);
    if (!found) {
      await reserved.attempt.counted();
      return again(401, 'That username or password is not right, or the account cannot sign in.');
    }
    await reserved.attempt.succeeded();
    const resolved = await userById(ctx, found.id);
    return signIn(ctx, req, reply, resolved, next);
  });

  app.get('/login/totp', async (req, reply) => {
    const s = sessionOf(req);
    if (!s || s.stage !== 'totp') return reply.redirect('/login', 303);
    return pages.send(req, reply, 'login-totp', { title: 'Two-factor code', next: localPath(text(queryOf(req), 'next')) });
  });

  app.post('/login/totp', async (req, reply) => {
    const s = sessionOf(req);
    if (!s || s.stage !== 'totp') return reply.redirect('/login', 303);
    const form = formOf(req);
    const next = localPath(text(form, 'next'));
    const ip = ctx.clientIp(req);
    // Codes count per user in their own scope: entering the right password again does not reset it.
    const reserved = await throttle.secondFactor(s.user.id, ip);
    if (!reserved.allowed) {
      reply.header('retry-after', String(reserved.retryAfterSeconds));
      return pages.send(req, reply, 'login-totp', { title: 'Two-factor code', next, error: 'Too many wrong codes. Try again later.' }, 429);
    }
    if (!(await ctx.twoFactor.verify(s.user.id, trimmed(form, 'code')))) {
      await reserved.attempt.counted();
      return pages.send(req, reply, 'login-totp', { title: 'Two-factor code', next, error: 'That code is not right (or was already used).' }, 401);
    }
    await reserved.attempt.succeeded();
    await ctx.sessions.end(s.sessionId);
    const session = await ctx.sessions.start(s.user.id, 'full', { ip, userAgent: req.headers['user-agent'] ?? null });
    ctx.cookie.set(reply, session.token, session.maxAgeSeconds);
    return reply.redirect(next === '/' ? homeOf(s.user) : next, 303);
  });

  app.post('/logout', async (req, reply) => {
    const s = sessionOf(req);
    if (s) await ctx.sessions.end(s.sessionId);
    ctx.cookie.clear(reply);
    return ctx.redirect(reply, '/login', 'ok', 'You are signed out.');
  });

  app.post('/logout/everywhere', async (req, reply) => {
    const s = sessionOf(req);
    if (s && (await ctx.sessions.endEverywhere(s)) === null) {
      return pages.forbidden(req, reply, 'Enter your two-factor code first: until then this browser may only sign itself out.');
    }
    ctx.cookie.clear(reply);
    return ctx.redirect(reply, '/login', 'ok', 'You are signed out on every device.');
  });

  app.get('/signup', async (req, reply) => {
    if (ctx.config.SIGNUP !== 'open') return pages.notFound(req, reply);
    if (viewer(req)) return reply.redirect('/', 303);
    return pages.send(req, reply, 'signup', { title: 'Create an account', values: {} });
  });

  app.post('/signup', async (req, reply) => {
    if (ctx.config.SIGNUP !== 'open') return pages.notFound(req, reply);
    const form = formOf(req);
    const values = { username: trimmed(form, 'username'), email: trimmed(form, 'email') };
    const ip = ctx.clientIp(req);
    if (text(form, 'password') !== text(form, 'password2')) {
      return pages.send(req, reply, 'signup', { title: 'Create an account', values, error: 'The two passwords differ.' }, 400);
    }
    // Sign-ups count per IP (and against the IP like failed sign-ins), so the form cannot mint accounts in bulk.
    const reserved = await throttle.signUp(ip);
    if (!reserved.allowed) {
      reply.header('retry-after', String(reserved.retryAfterSeconds));
      return pages.send(req, reply, 'signup', { title: 'Create an account', values, error: 'Too many attempts. Try again later.' }, 429);
    }
    let created: number;
    try {
      created = (await services.users.create({ ...values, email: values.email || null, password: text(form, 'password'), role: 'customer' }, 'signup')).id;
    } catch (err) {
      if (!(err instanceof KeywardError)) throw err;
      await reserved.attempt.withdrawn();
      return pages.send(req, reply, 'signup', { title: 'Create an account', values, error: err.message }, err.status);
    }
    await reserved.attempt.counted();
    return signIn(ctx, req, reply, await userById(ctx, created), '/');
  });
}

/** A user as the session layer describes it (2FA state included). */
export async function userById(ctx: DashboardContext, id: number): Promise<CurrentUser> {
  const user = await ctx.sessions.describe(id);
  if (!user) throw new KeywardError('user_not_found', `user ${id} does not exist`);
  return user;
}
