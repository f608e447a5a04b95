import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import type { Services } from '../services.js';
import { DiscordClient } from './auth/discord-client.js';
import type { SessionService } from './auth/session-service.js';
import type { SetupTokens } from './auth/setup-token.js';
import type { SignInThrottle } from './auth/sign-in-throttle.js';
import type { TwoFactorService } from './auth/two-factor.js';
import { setFlash, type Flash } from './flash.js';
import { Pages } from './pages.js';
import { SessionCookie } from './session-cookie.js';

/** Everything the dashboard's routes share, wired once per app. */
export interface DashboardContext {
  config: Config;
  services: Services;
  sessions: SessionService;
  throttle: SignInThrottle;
  twoFactor: TwoFactorService;
  setup: SetupTokens;
  discord: DiscordClient | null;
  pages: Pages;
  cookie: SessionCookie;
  secure: boolean;
  clientIp(req: FastifyRequest): string;
  /** Post → redirect → get, with a message for the next page. */
  redirect(reply: FastifyReply, to: string, kind?: Flash['kind'], text?: string): FastifyReply;
}

export function buildContext(config: Config, services: Services, clientIp: (req: IncomingMessage) => string): DashboardContext {
  const secure = config.PUBLIC_URL.startsWith('https:');
  const discord =
    config.DISCORD_CLIENT_ID && config.DISCORD_CLIENT_SECRET
      ? new DiscordClient({
          clientId: config.DISCORD_CLIENT_ID,
          clientSecret: config.DISCORD_CLIENT_SECRET,
          authorizeUrl: config.DISCORD_AUTHORIZE_URL,
          tokenUrl: config.DISCORD_TOKEN_URL,
          userUrl: config.DISCORD_USER_URL,
          redirectUri: `${config.PUBLIC_URL}/auth/discord/callback`,
        })
      : null;
  return {
    config,
    services,
    sessions: services.sessions,
    throttle: services.signInThrottle,
    twoFactor: services.twoFactor,
    setup: services.setupTokens,
    discord,
    pages: new Pages({ discord: discord !== null, signup: config.SIGNUP === 'open', secure, publicUrl: config.PUBLIC_URL }),
    cookie: new SessionCookie(secure),
    secure,
    clientIp: (req) => clientIp(req.raw),
    redirect(reply, to, kind, text) {
      if (kind && text) setFlash(reply, kind, text, secure);
      return reply.redirect(to, 303);
    },
  };
}
