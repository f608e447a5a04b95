import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AnswerSigner } from '../licensing/answer-signer.js';
import type { CheckResult, LicenseChecker } from '../licensing/check-license.js';
import { LIMITS, MAX_DB_ID } from '../licensing/schemas/limits.js';
import { LICENSE_FILE_ALGS, type LicenseFileAlg } from '../licensing/license-file.js';
import type { Answers } from './answers.js';
import type { ClientIpResolver } from './client-ip.js';
import type { FailLimiter } from './fail-limiter.js';
import type { CheckMetrics } from '../metrics/metrics.js';
import { INVALID, parseCheckInput, parseNonce, parseUserAgent, type CheckInput } from './parse-input.js';
import { clientAnswer, CLIENT_OPS, type ClientOp } from './client-answers.js';

export const JSON_TYPE = 'application/json; charset=utf-8';

export interface CheckHandlerDeps {
  checker: LicenseChecker;
  answers: Answers;
  clientIp: ClientIpResolver;
  bodyLimit: number;
  logger: Logger;
  signer: AnswerSigner;
  failLimiter: FailLimiter;
  /** Told the endpoint, status and duration of every check; absent when metrics are off. */
  metrics?: CheckMetrics;
}

/** The three check endpoints, and the client endpoints by their operation. */
type Kind = 'single' | 'multiple' | 'v1' | ClientOp;

const isClient = (kind: Kind): kind is ClientOp => kind !== 'single' && kind !== 'multiple' && kind !== 'v1';

/** Machine-step refusals counted by `keyward_machine_refusals_total`. */
const MACHINE_REFUSALS = new Set(['TOO MANY MACHINES', 'NOT ACTIVATED', 'FINGERPRINT REQUIRED']);

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
  const { checker, answers, clientIp, bodyLimit, logger, signer, failLimiter, metrics } = deps;
  const render = (kind: Kind, result: CheckResult): string =>
    kind === 'single'
      ? answers.single(result)
      : kind === 'multiple'
        ? answers.multiple(result)
        : kind === 'v1'
          ? answers.v1(result)
          : clientAnswer(kind, result, answers, Date.now());

  /** The request bodies of client endpoints, which their (version 2) signatures bind. */
  const requestBodies = new WeakMap<IncomingMessage, Buffer>();

  /**
   * Every answer is signed (docs/signed-answers.md), whatever its status: a check's with version 1,
   * a client endpoint's with version 2, which binds the request body too.
   */
  const answer = (req: IncomingMessage, res: ServerResponse, status: number, body: string, nonce: string | null, extra?: Record<string, string>): void => {
    if (res.headersSent || res.destroyed) return;
    const method = req.method ?? 'GET';
    const target = req.url ?? '';
    const v2 = target.startsWith(CLIENT_PREFIX);
    const { signature, keyId, date } = v2 ? signer.signV2(method, target, nonce, requestBodies.get(req) ?? EMPTY, body) : signer.sign(method, target, nonce, body);
    const headers: Record<string, string | number> = {
      'content-type': JSON_TYPE,
      'content-length': Buffer.byteLength(body),
      'x-keyward-signature': signature,
      'x-keyward-key-id': keyId,
      'x-keyward-date': date,
    };
    if (v2) headers['x-keyward-signature-version'] = '2';
    if (extra) Object.assign(headers, extra);
    res.writeHead(status, headers);
    res.end(body);
  };

  const refuse = (kind: Kind, req: IncomingMessage, res: ServerResponse, nonce: string | null, blockedMs: number): void => {
    answer(req, res, 429, answers.rateLimited, nonce, { 'retry-after': String(Math.ceil(blockedMs / 1000)) });
    metrics?.check(kind, 'RATE LIMITED', 0);
  };

  const reply = (kind: Kind, req: IncomingMessage, res: ServerResponse, nonce: string | null, started: number, result: CheckResult): void => {
    answer(req, res, 200, render(kind, result), nonce);
    if (!metrics) return;
    metrics.check(kind, result.status, (performance.now() - started) / 1000);
    if (result.activated) metrics.machineActivated(result.productId);
    else if (MACHINE_REFUSALS.has(result.status)) metrics.machineRefused(result.productId, result.status);
  };

  /** Answers a decided check; written without per-request closures, as most checks end here synchronously. */
  const finish = (kind: Kind, req: IncomingMessage, res: ServerResponse, nonce: string | null, ip: string, key: string | null, now: number, started: number, result: CheckResult): void | Promise<void> => {
    if (result.status !== 'NOT FOUND') return reply(kind, req, res, nonce, started, result);
    // A miss is counted (once per distinct key) before it is answered, so the next request from
    // that IP already sees it; a miss from an IP blocked meanwhile (in flight) is refused like the rest.
    const over = failLimiter.miss(ip, key, now);
    if (over instanceof Promise) return over.then((o) => answerMiss(kind, req, res, nonce, ip, started, result, o));
    return answerMiss(kind, req, res, nonce, ip, started, result, over);
  };

  const answerMiss = (kind: Kind, req: IncomingMessage, res: ServerResponse, nonce: string | null, ip: string, started: number, result: CheckResult, over: boolean): void =>
    over ? refuse(kind, req, res, nonce, Math.max(1000, failLimiter.blockedFor(ip, Date.now()))) : reply(kind, req, res, nonce, started, result);

  const run = (kind: Kind, route: Route, req: IncomingMessage, res: ServerResponse, body: string | undefined): void | Promise<void> => {
    const input = parseCheckInput(req.headers.authorization, route.query, body, req.headers['content-type']);
    const ip = clientIp(req);
    const now = Date.now();
    const blocked = failLimiter.blockedFor(ip, now);
    if (blocked > 0) return refuse(kind, req, res, input.nonce, blocked);
    const started = metrics ? performance.now() : 0;
    if (isClient(kind)) {
      const problem = invalidInput(kind, input);
      if (problem) return invalid(kind, req, res, input, problem);
    }
    const result = checker.check({
      productIds: kind === 'multiple' ? input.proIds : isClient(kind) ? input.productId : productIdFromPath(route.segment),
      key: input.key,
      ip,
      info: input.info,
      log: input.log,
      userAgent: parseUserAgent(req.headers['user-agent']),
      op: isClient(kind) ? kind : undefined,
      fingerprint: input.fingerprint,
      machine: input.machine,
      entitlements: input.entitlements,
      increment: kind === 'usage' ? (input.increment as number | undefined) : undefined,
      file: kind === 'file' ? { ttlSeconds: (input.ttlSeconds as number | undefined) ?? FILE_TTL.default, alg: (input.alg as LicenseFileAlg | undefined) ?? 'aes-256-gcm+ed25519' } : undefined,
    });
    return result instanceof Promise
      ? result.then((r) => finish(kind, req, res, input.nonce, ip, input.key, now, started, r))
      : finish(kind, req, res, input.nonce, ip, input.key, now, started, result);
  };

  /** A client endpoint's value that is never clamped (docs/check-api.md): refused, nothing counted. */
  const invalid = (kind: ClientOp, req: IncomingMessage, res: ServerResponse, input: CheckInput, problem: string): void => {
    answer(req, res, 200, clientAnswer(kind, INVALID_RESULT, answers, Date.now(), answers.invalid(problem)), input.nonce);
    metrics?.check(kind, 'INVALID INPUT', 0);
  };

  const start = (kind: Kind, route: Route, req: IncomingMessage, res: ServerResponse, body: string | undefined): void => {
    const failed = (err: unknown): void => {
      logger.error({ err }, 'license check failed');
      answer(req, res, 200, answers.unavailable, body === undefined ? queryNonce(route.query) : null);
    };
    try {
      run(kind, route, req, res, body)?.catch(failed);
    } catch (err) {
      failed(err);
    }
  };

  /** The nonce of a request whose body is not read (too large): from the query only. */
  const queryNonce = (query: string): string | null => (query ? parseNonce(new URLSearchParams(query).get('nonce')) : null);

  return (req, res) => {
    const route = matchRoute(req.url ?? '', req.method);
    if (!route) return false;
    const length = req.headers['content-length'];
    const hasBody = req.method === 'POST' && (req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0'));
    if (!hasBody) {
      start(route.kind, route, req, res, undefined);
      return true;
    }
    if (length !== undefined && Number(length) > bodyLimit) {
      // Refuse before reading; the connection closes so the unread body cannot be taken for a request.
      answer(req, res, 413, answers.tooLarge, queryNonce(route.query), { connection: 'close' });
      req.resume();
      return true;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > bodyLimit) {
        answer(req, res, 413, answers.tooLarge, queryNonce(route.query), { connection: 'close' });
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (res.headersSent) return;
      const raw = Buffer.concat(chunks, size);
      if (isClient(route.kind)) requestBodies.set(req, raw);
      start(route.kind, route, req, res, raw.toString('utf8'));
    });
    // A client that goes away mid-body gets no answer; there is no one to send it to.
    req.on('error', () => {});
    return true;
  };
}

const FILE_TTL = LIMITS.licenseFile.ttlSeconds;
const INVALID_RESULT: CheckResult = Object.freeze({ status: 'INVALID INPUT', productId: null, machine: null });
const count = (n: number): string => n.toLocaleString('en-US');

/** What a client endpoint refuses to run with (docs/check-api.md: bad values are never clamped), or null. */
function invalidInput(op: ClientOp, input: CheckInput): string | null {
  if (input.badFingerprint) return 'fingerprint must be 1 to 255 printable ASCII characters';
  if (op === 'usage' && input.increment === INVALID) {
    return `increment must be a whole number from ${count(LIMITS.usage.increment.min)} to ${count(LIMITS.usage.increment.max)}`;
  }
  if (op === 'file' && input.ttlSeconds === INVALID) return `ttlSeconds must be a whole number from ${count(FILE_TTL.min)} to ${count(FILE_TTL.max)}`;
  if (op === 'file' && input.alg === INVALID) return `alg must be one of ${LICENSE_FILE_ALGS.join(', ')}`;
  return null;
}

interface Route {
  kind: Kind;
  segment: string;
  query: string;
}

const SINGLE = '/api/check/';
const V1 = '/api/checkitem/';
const CLIENT_PREFIX = '/api/license/';
const EMPTY = Buffer.alloc(0);

/**
 * `/api/check/multiple`, `/api/check/:productId`, `/api/checkitem/:productId` (GET or POST), and
 * the client endpoints `/api/license/validate|activate|deactivate|heartbeat|usage|file` (POST, or GET with the query).
 */
function matchRoute(url: string, method: string | undefined): Route | null {
  if (method !== 'POST' && method !== 'GET') return null;
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q + 1);
  let kind: Kind;
  let segment: string;
  if (path.startsWith(CLIENT_PREFIX)) {
    const op = path.slice(CLIENT_PREFIX.length);
    // GET is accepted as for the checks (docs/check-api.md): some HTTP clients only do GET.
    return CLIENT_OPS.has(op) ? { kind: op as ClientOp, segment: '', query } : null;
  }
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
