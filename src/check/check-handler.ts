import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { CheckResult, LicenseChecker } from '../licensing/check-license.js';
import { MAX_DB_ID } from '../licensing/values.js';
import type { Answers } from './answers.js';
import type { ClientIpResolver } from './client-ip.js';
import { parseCheckInput } from './parse-input.js';

export const JSON_TYPE = 'application/json; charset=utf-8';

export interface CheckHandlerDeps {
  checker: LicenseChecker;
  answers: Answers;
  clientIp: ClientIpResolver;
  bodyLimit: number;
  logger: Logger;
}

type Kind = 'single' | 'multiple' | 'v1';

/** A raw node:http handler: returns false when the request is not a check, for the app to serve. */
export type CheckHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * The three check endpoints, served straight from node:http ahead of the Fastify app: a check
 * is on the start-up path of every product a seller ships, so it skips the framework's routing,
 * hooks and reply machinery (see docs/benchmarks.md). It reads every body as text and parses it
 * itself, so no content type, empty body or broken JSON can turn a check into a 4xx, and any
 * fault answers 200 with pass:false; only an oversized body answers 413.
 */
export function createCheckHandler(deps: CheckHandlerDeps): CheckHandler {
  const { checker, answers, clientIp, bodyLimit, logger } = deps;
  const render = (kind: Kind, result: CheckResult): string =>
    kind === 'single' ? answers.single(result) : kind === 'multiple' ? answers.multiple(result) : answers.v1(result);

  const run = async (kind: Kind, segment: string, req: IncomingMessage, query: string, body: string | undefined) => {
    const input = parseCheckInput(req.headers.authorization, query, body, req.headers['content-type']);
    const result = await checker.check({
      productIds: kind === 'multiple' ? input.proIds : productIdFromPath(segment),
      key: input.key,
      ip: clientIp(req),
      info: input.info,
      log: input.log,
      userAgent: req.headers['user-agent'] ?? null,
    });
    return render(kind, result);
  };

  const answer = (res: ServerResponse, status: number, body: string, close = false): void => {
    if (res.headersSent || res.destroyed) return;
    const headers: Record<string, string | number> = { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body) };
    if (close) headers.connection = 'close';
    res.writeHead(status, headers);
    res.end(body);
  };

  const fail = (res: ServerResponse, err: unknown): void => {
    logger.error({ err }, 'license check failed');
    answer(res, 200, answers.unavailable);
  };

  return (req, res) => {
    const url = req.url ?? '';
    const route = matchRoute(url, req.method);
    if (!route) return false;
    const { kind, segment, query } = route;
    const length = req.headers['content-length'];
    const hasBody = req.method === 'POST' && (req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0'));
    if (!hasBody) {
      run(kind, segment, req, query, undefined).then((body) => answer(res, 200, body), (err) => fail(res, err));
      return true;
    }
    if (length !== undefined && Number(length) > bodyLimit) {
      // Refuse before reading; the connection closes so the unread body cannot be taken for a request.
      answer(res, 413, answers.tooLarge, true);
      req.resume();
      return true;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > bodyLimit) {
        if (!res.headersSent) answer(res, 413, answers.tooLarge, true);
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (res.headersSent) return;
      run(kind, segment, req, query, Buffer.concat(chunks, size).toString('utf8')).then(
        (body) => answer(res, 200, body),
        (err) => fail(res, err),
      );
    });
    // A client that goes away mid-body gets no answer; there is no one to send it to.
    req.on('error', () => {});
    return true;
  };
}

interface Route {
  kind: Kind;
  segment: string;
  query: string;
}

const SINGLE = '/api/check/';
const V1 = '/api/checkitem/';

/** `/api/check/multiple`, `/api/check/:productId`, `/api/checkitem/:productId`; GET or POST. */
function matchRoute(url: string, method: string | undefined): Route | null {
  if (method !== 'POST' && method !== 'GET') return null;
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q + 1);
  let kind: Kind;
  let segment: string;
  if (path.startsWith(SINGLE)) {
    segment = path.slice(SINGLE.length);
    kind = segment === 'multiple' ? 'multiple' : 'single';
  } else if (path.startsWith(V1)) {
    segment = path.slice(V1.length);
    kind = 'v1';
  } else {
    return null;
  }
  // A deeper path is no check route: the app answers it with a JSON 404.
  if (segment.includes('/')) return null;
  return { kind, segment, query };
}

/** A product id in the URL is a whole number (percent-encoding allowed); anything else names no product. */
function productIdFromPath(segment: string): number[] {
  let text = segment;
  if (text.includes('%')) {
    try {
      text = decodeURIComponent(text);
    } catch {
      return [];
    }
  }
  if (!/^\d{1,10}$/.test(text)) return [];
  const id = Number(text);
  return id <= MAX_DB_ID ? [id] : [];
}
