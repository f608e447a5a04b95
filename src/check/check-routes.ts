import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { LicenseChecker } from '../licensing/check-license.js';
import { MAX_DB_ID } from '../licensing/values.js';
import type { Answers } from './answers.js';
import type { ClientIpResolver } from './client-ip.js';
import { parseCheckInput } from './parse-input.js';

export const JSON_TYPE = 'application/json; charset=utf-8';

export interface CheckRouteDeps {
  checker: LicenseChecker;
  answers: Answers;
  clientIp: ClientIpResolver;
  bodyLimit: number;
}

type Kind = 'single' | 'multiple' | 'v1';

/**
 * The three check endpoints. They read every body as text and parse it themselves, so no
 * content type, empty body or broken JSON can turn a check into a 4xx; any fault answers 200.
 */
export async function checkRoutes(app: FastifyInstance, deps: CheckRouteDeps): Promise<void> {
  const { checker, answers, clientIp } = deps;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: deps.bodyLimit }, (_req, body, done) => done(null, body));
  // Fastify refuses malformed Content-Type headers before any parser runs; the check must not,
  // so the parser only ever sees a neutral type and the real one is kept for parse-input.
  app.addHook('onRequest', async (req) => {
    const type = req.headers['content-type'];
    if (type !== undefined) {
      originalType.set(req.raw, type);
      req.headers['content-type'] = 'application/octet-stream';
    }
  });

  const run = async (kind: Kind, req: FastifyRequest<{ Params: { productId?: string } }>, reply: FastifyReply, body: unknown) => {
    const url = req.raw.url ?? '';
    const q = url.indexOf('?');
    const input = parseCheckInput(req.headers.authorization, q === -1 ? '' : url.slice(q + 1), body, originalType.get(req.raw));
    const result = await checker.check({
      productIds: kind === 'multiple' ? input.proIds : productIdFromPath(req.params.productId),
      key: input.key,
      ip: clientIp(req.raw),
      info: input.info,
      log: input.log,
      userAgent: req.headers['user-agent'] ?? null,
    });
    return send(reply, kind === 'single' ? answers.single(result) : kind === 'multiple' ? answers.multiple(result) : answers.v1(result));
  };

  app.setErrorHandler(async (err: Error & { statusCode?: number }, req: FastifyRequest<{ Params: { productId?: string } }>, reply) => {
    if (err.statusCode === 413) return send(reply.code(413), answers.tooLarge);
    const kind = KIND_OF_ROUTE.get(req.routeOptions.url ?? '');
    if (kind && err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      // Whatever was wrong with the body, the check still runs on the header, URL and query.
      try {
        return await run(kind, req, reply.code(200), undefined);
      } catch (inner) {
        err = inner as Error;
      }
    }
    req.log.error({ err }, 'license check failed');
    return send(reply.code(200), answers.unavailable);
  });

  for (const [url, kind] of KIND_OF_ROUTE) {
    // No HEAD twin: a HEAD request must not count as a check.
    app.route({ method: ['GET', 'POST'], url, exposeHeadRoute: false, handler: (req, reply) => run(kind, req as never, reply, req.body) });
  }
}

const originalType = new WeakMap<object, string>();

const KIND_OF_ROUTE = new Map<string, Kind>([
  ['/api/check/multiple', 'multiple'],
  ['/api/check/:productId', 'single'],
  ['/api/checkitem/:productId', 'v1'],
]);

function send(reply: FastifyReply, body: string): FastifyReply {
  return reply.header('content-type', JSON_TYPE).send(body);
}

/** A product id in the URL is a whole number; anything else names no product. */
function productIdFromPath(segment: string | undefined): number[] {
  if (!segment || !/^\d{1,10}$/.test(segment)) return [];
  const id = Number(segment);
  return id <= MAX_DB_ID ? [id] : [];
}
