import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import formbody from '@fastify/formbody';
import helmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { clientIpResolver } from '../check/client-ip.js';
import type { Config } from '../config.js';
import { KeywardError } from '../errors.js';
import type { Services } from '../services.js';
import { accountRoutes } from './account/account-routes.js';
import { discordRoutes } from './auth/discord-routes.js';
import { loginRoutes } from './auth/login-routes.js';
import { setupRoutes } from './auth/setup-routes.js';
import { buildContext, type DashboardContext } from './context.js';
import { customerLicenseRoutes } from './customer/license-routes.js';
import { customerMachineRoutes } from './customer/machine-routes.js';
import { staffOnly } from './guards.js';
import { csrfUserInfo } from './pages.js';
import { checkAssets, PUBLIC_DIR } from './paths.js';
import { setSession } from './request-state.js';
import { logRoutes } from './staff/log-routes.js';
import { overviewRoutes } from './staff/overview-routes.js';
import { policyRoutes } from './staff/policy-routes.js';
import { productRoutes } from './staff/product-routes.js';
import { staffLicenseRoutes } from './staff/license-routes.js';
import { staffMachineRoutes } from './staff/machine-routes.js';
import { tokenRoutes } from './staff/token-routes.js';
import { staffUsageRoutes } from './staff/usage-routes.js';
import { userRoutes } from './staff/user-routes.js';

export interface DashboardOptions {
  config: Config;
  services: Services;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The license dashboard: server-rendered pages for customers (/licenses, /account) and staff
 * (/staff/…), sign-in (/login, /setup, /auth/discord). Registered in its own scope, so its
 * cookies, CSRF checks, form parsing and security headers never touch the check API.
 */
export async function dashboard(app: FastifyInstance, opts: DashboardOptions): Promise<void> {
  checkAssets();
  const { config, services } = opts;
  const ctx = buildContext(config, services, clientIpResolver(config.TRUST_PROXY));

  // Signed cookies (the Discord sign-in's flow) use a key derived from the server secret for this only.
  await app.register(cookie, { secret: services.deriveKey('dashboard-cookie-signing-v1') });
  await app.register(formbody, { bodyLimit: 64 * 1024 });
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'"],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        ...(ctx.secure ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    referrerPolicy: { policy: 'same-origin' },
    frameguard: { action: 'deny' },
    strictTransportSecurity: ctx.secure ? { maxAge: 31_536_000 } : false,
    crossOriginEmbedderPolicy: false,
  });
  const hmacKey = await services.sessions.csrfKey();
  await app.register(csrf, {
    cookieKey: ctx.secure ? '__Host-keyward_csrf' : 'keyward_csrf',
    cookieOpts: { path: '/', sameSite: 'lax', httpOnly: true, secure: ctx.secure },
    getUserInfo: csrfUserInfo,
    csrfOpts: { hmacKey },
  });
  await app.register(fastifyStatic, { root: PUBLIC_DIR, prefix: '/assets/', decorateReply: false, index: false, maxAge: 3600_000 });

  app.addHook('onRequest', async (req) => {
    if (req.url.startsWith('/assets/')) return;
    const token = ctx.cookie.read(req);
    if (!token) return;
    const session = await ctx.sessions.resolve(token);
    if (session) setSession(req, session);
  });
  // Every state-changing request carries the form's (or the X-CSRF-Token header's) token.
  app.addHook('preValidation', (req, reply, done) => {
    if (SAFE_METHODS.has(req.method)) return done();
    app.csrfProtection(req, reply, done);
  });
  app.setErrorHandler((err: FastifyError, req, reply) => errorPage(ctx, err, req, reply));

  await app.register(async (scope) => {
    await loginRoutes(scope, ctx);
    await setupRoutes(scope, ctx);
    await discordRoutes(scope, ctx);
  });
  await app.register(async (scope) => accountRoutes(scope, ctx));
  await app.register(async (scope) => customerLicenseRoutes(scope, ctx));
  await app.register(async (scope) => customerMachineRoutes(scope, ctx));
  await app.register(async (scope) => {
    scope.addHook('preHandler', staffOnly(ctx));
    await overviewRoutes(scope, ctx);
    await productRoutes(scope, ctx);
    await policyRoutes(scope, ctx);
    await staffLicenseRoutes(scope, ctx);
    await staffMachineRoutes(scope, ctx);
    await staffUsageRoutes(scope, ctx);
    await userRoutes(scope, ctx);
    await logRoutes(scope, ctx);
    await scope.register(async (admins) => tokenRoutes(admins, ctx));
  });
}

function errorPage(ctx: DashboardContext, err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  if (err.code === 'FST_CSRF_INVALID_TOKEN' || err.code === 'FST_CSRF_MISSING_SECRET') {
    return ctx.pages.message(req, reply, 403, 'Form expired', 'This form is out of date or did not come from this site. Go back, reload the page and try again.', {
      href: '/',
      label: 'Back to the dashboard',
    });
  }
  if (err instanceof KeywardError) {
    return ctx.pages.message(req, reply, err.status, err.status === 404 ? 'Not found' : 'Could not do that', err.message);
  }
  const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
  if (status === 500) req.log.error({ err }, 'dashboard request failed');
  return ctx.pages.message(req, reply, status, status === 500 ? 'Something went wrong' : 'Bad request', status === 500 ? 'The server could not finish this request. Try again; if it keeps happening, tell the site’s staff.' : 'The request could not be understood.');
}
