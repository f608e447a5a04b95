import type { FastifyInstance, FastifyRequest } from 'fastify';
import { KeywardError } from '../errors.js';
import type { ApiPrincipal, Scope, TokenService } from '../licensing/token-service.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The API token that authenticated this /api/v1 request (null elsewhere). */
    apiToken: ApiPrincipal | null;
  }
  interface FastifyContextConfig {
    /** The scope an /api/v1 route needs; routes without one are public (the OpenAPI document). */
    scope?: Scope;
  }
}

/** The `kw_…` token of `Authorization: Bearer kw_…`, or null. */
export function bearerToken(header: string | undefined): string | null {
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m ? m[1]! : null;
}

const lookups = new WeakMap<FastifyRequest, Promise<ApiPrincipal | null>>();

/**
 * The live token this request's bearer value names, or null; looked up once per request (the
 * rate limiter keys on it, then the scope check reads it). Valid tokens are cached, so only an
 * unknown one reaches the database, and that request counts against its address.
 */
export function principalOf(req: FastifyRequest, tokens: TokenService): Promise<ApiPrincipal | null> {
  let lookup = lookups.get(req);
  if (!lookup) {
    const token = bearerToken(req.headers.authorization);
    lookup = token ? tokens.authenticate(token) : Promise.resolve(null);
    lookups.set(req, lookup);
  }
  return lookup;
}

/**
 * Every /api/v1 route names its scope; this check runs before validation, so a caller without
 * a valid token (401) or without the scope (403) learns nothing about its input. Register the
 * rate limiter first, and routes after this.
 */
export function requireTokens(api: FastifyInstance, tokens: TokenService): void {
  api.decorateRequest('apiToken', null);
  const authenticate = async (req: FastifyRequest) => {
    const scope = req.routeOptions.config?.scope;
    if (!scope) return;
    if (!bearerToken(req.headers.authorization)) throw new KeywardError('unauthorized', 'send an API token: Authorization: Bearer kw_…');
    const principal = await principalOf(req, tokens);
    if (!principal) throw new KeywardError('unauthorized', 'the API token is unknown or revoked');
    req.apiToken = principal;
    if (!principal.scopes.has(scope)) {
      throw new KeywardError('forbidden', `this token lacks the scope ${scope}`, { requiredScope: scope });
    }
  };
  // A route-level hook, added after the rate limiter's: callers without a valid token count too.
  api.addHook('onRoute', (route) => {
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [...existing, authenticate];
  });
}

/** The audit log's name for the caller. */
export const actorOf = (req: FastifyRequest): string => `token:${req.apiToken?.name ?? 'unknown'}`;
