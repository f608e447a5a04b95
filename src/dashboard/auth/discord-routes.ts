import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { KeywardError } from '../../errors.js';
import type { DashboardContext } from '../context.js';
import { localPath, queryOf, text } from '../forms.js';
import { actorOf, sessionOf, viewer } from '../request-state.js';
import { DiscordError, type DiscordIdentity } from './discord-client.js';
import { signIn, userById } from './login-routes.js';
import type { CurrentUser } from './session-service.js';

/** How long a started sign-in may take to come back (the cookie's life, and checked in its signed value). */
const FLOW_TTL_MS = 10 * 60_000;

interface FlowState {
  state: string;
  mode: 'login' | 'link';
  next: string;
  /** When the flow stops being accepted (epoch ms). */
  expires: number;
  /** Link mode: the user linking their account, and the session that started the link. */
  userId?: number;
  sessionId?: number;
}

/**
 * Discord OAuth2 sign-in. The `state` sent to Discord is also kept in a short-lived, HttpOnly,
 * signed cookie (a key derived from the server secret; `__Host-` over https); the callback
 * proceeds only when both match, so nobody can complete a sign-in in another's browser. A link
 * is bound to the session that started it: a cookie written or planted by someone else cannot
 * link their Discord to another account.
 */
export async function discordRoutes(app: FastifyInstance, ctx: DashboardContext): Promise<void> {
  const { pages, discord } = ctx;
  const cookieName = ctx.secure ? '__Host-keyward_oauth' : 'keyward_oauth';
  // `__Host-` cookies must have Path=/ (and Secure, and no Domain).
  const cookieOpts = { path: '/', httpOnly: true, sameSite: 'lax' as const, secure: ctx.secure };

  app.get('/auth/discord', async (req, reply) => {
    if (!discord) return pages.notFound(req, reply);
    const q = queryOf(req);
    const user = viewer(req);
    const link = text(q, 'link') === '1';
    if (link && !user) return reply.redirect('/login', 303);
    const flow: FlowState = {
      state: randomBytes(24).toString('base64url'),
      mode: link ? 'link' : 'login',
      next: localPath(text(q, 'next')),
      expires: Date.now() + FLOW_TTL_MS,
      ...(link ? { userId: user!.id, sessionId: sessionOf(req)!.sessionId } : {}),
    };
    const value = Buffer.from(JSON.stringify(flow)).toString('base64url');
    reply.setCookie(cookieName, value, { ...cookieOpts, signed: true, maxAge: FLOW_TTL_MS / 1000 });
    return reply.redirect(discord.authorizeUrl(flow.state), 302);
  });

  app.get('/auth/discord/callback', async (req, reply) => {
    if (!discord) return pages.notFound(req, reply);
    const q = queryOf(req);
    const flow = readFlow(req, cookieName);
    reply.clearCookie(cookieName, cookieOpts);
    const fail = (status: number, text: string) => pages.message(req, reply, status, 'Discord sign-in failed', text, { href: '/login', label: 'Back to sign-in' });
    if (!flow || !sameText(flow.state, text(q, 'state'))) {
      return fail(400, 'This sign-in attempt expired or did not start here. Start again from the sign-in page.');
    }
    if (flow.mode === 'link') {
      // Checked before the code is used: a link goes only to the session that asked for it.
      if (!viewer(req)) return reply.redirect('/login', 303);
      const s = sessionOf(req)!;
      if (s.user.id !== flow.userId || s.sessionId !== flow.sessionId) {
        return fail(400, 'This link attempt did not start in this browser session. Start again from your account page.');
      }
    }
    if (text(q, 'error')) return fail(400, 'Discord sign-in was cancelled.');
    const code = text(q, 'code');
    if (!code) return fail(400, 'Discord sent no authorisation code.');
    let identity: DiscordIdentity;
    try {
      identity = await discord.identify(code);
    } catch (err) {
      if (err instanceof DiscordError) {
        req.log.warn({ err: err.message }, 'Discord sign-in failed');
        return fail(502, `${err.message}. Try again in a moment.`);
      }
      throw err;
    }
    if (flow.mode === 'link') return link(reply, viewer(req)!, identity);
    return login(req, reply, flow, identity, fail);
  });

  async function link(reply: FastifyReply, user: CurrentUser, identity: DiscordIdentity) {
    try {
      await ctx.services.users.update(user.id, { discordId: identity.id }, actorOf(user));
    } catch (err) {
      if (err instanceof KeywardError) return ctx.redirect(reply, '/account', 'error', err.message);
      throw err;
    }
    return ctx.redirect(reply, '/account', 'ok', `Discord account ${identity.username} is now linked.`);
  }

  async function login(req: FastifyRequest, reply: FastifyReply, flow: FlowState, identity: DiscordIdentity, fail: (s: number, t: string) => FastifyReply) {
    const existing = await ctx.services.users.findByDiscordId(identity.id);
    if (existing) {
      if (existing.disabled) return fail(403, 'This account may not sign in. Ask the seller’s staff.');
      return signIn(ctx, req, reply, await userById(ctx, existing.id), flow.next);
    }
    if (ctx.config.SIGNUP !== 'open') {
      return fail(403, 'No account here is linked to this Discord account. Sign in with your password and link Discord on your account page, or ask staff to link it.');
    }
    const created = await createFromDiscord(ctx, identity);
    return signIn(ctx, req, reply, await userById(ctx, created), flow.next);
  }
}

/** Open sign-up through Discord: a customer account named after the Discord user, linked to it. */
async function createFromDiscord(ctx: DashboardContext, identity: DiscordIdentity): Promise<number> {
  const base = identity.username.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 24).padEnd(2, '_');
  for (let attempt = 0; attempt < 20; attempt++) {
    const username = attempt === 0 ? base : `${base}-${randomBytes(2).toString('hex')}`;
    if (await ctx.services.users.findByUsername(username)) continue;
    try {
      // No usable password: this account signs in with Discord (a random one is generated and discarded).
      const user = await ctx.services.users.create({ username, role: 'customer' }, 'discord');
      await ctx.services.users.update(user.id, { discordId: identity.id }, 'discord');
      return user.id;
    } catch (err) {
      if (err instanceof KeywardError && err.code === 'username_taken') continue;
      throw err;
    }
  }
  throw new KeywardError('conflict', 'could not find a free username for this Discord account');
}

/** The flow this browser started, if its cookie carries our signature and has not expired. */
function readFlow(req: FastifyRequest, cookieName: string): FlowState | null {
  const raw = req.cookies[cookieName];
  if (!raw) return null;
  const signed = req.unsignCookie(raw);
  if (!signed.valid || signed.value === null) return null;
  try {
    const v = JSON.parse(Buffer.from(signed.value, 'base64url').toString('utf8')) as Partial<FlowState>;
    if (typeof v.state !== 'string' || (v.mode !== 'login' && v.mode !== 'link') || typeof v.next !== 'string') return null;
    if (typeof v.expires !== 'number' || v.expires <= Date.now()) return null;
    if (v.mode === 'link' && (typeof v.userId !== 'number' || typeof v.sessionId !== 'number')) return null;
    return { state: v.state, mode: v.mode, next: localPath(v.next), expires: v.expires, userId: v.userId, sessionId: v.sessionId };
  } catch {
    return null;
  }
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}
