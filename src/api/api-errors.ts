import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, KeywardError, type ErrorCode } from '../errors.js';

export const JSON_TYPE = 'application/json; charset=utf-8';

export interface FieldProblem {
  in: string;
  field: string;
  message: string;
}

interface SchemaError {
  keyword: string;
  instancePath: string;
  schemaPath: string;
  params?: Record<string, unknown>;
  message?: string;
}

export function sendError(reply: FastifyReply, code: ErrorCode, message: string, details?: unknown): FastifyReply {
  if (code === 'unauthorized') reply.header('www-authenticate', 'Bearer');
  const error: Record<string, unknown> = { code, message };
  if (details !== undefined) error.details = details;
  return reply.code(ERROR_CODES[code]).header('content-type', JSON_TYPE).send({ error });
}

/**
 * Maps every failure under /api/v1 to `{ error: { code, message, details? } }`: domain errors
 * keep their code; schema failures are 400 with the fields; framework refusals get the closest
 * code; only real faults are 500, and their text is logged, never sent.
 */
export function apiErrorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (err instanceof KeywardError) return sendError(reply, err.code, err.message, err.details);
  if (err.validation) {
    const details = validationDetails(err.validation as unknown as SchemaError[], err.validationContext ?? 'body');
    const first = details[0];
    const message = first ? `invalid ${first.in}: ${first.field} ${first.message}` : `invalid ${err.validationContext ?? 'request'}`;
    return sendError(reply, 'invalid_input', message, details);
  }
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return sendError(reply, 'unsupported_media_type', 'send the body as JSON (Content-Type: application/json)');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return sendError(reply, 'payload_too_large', 'the request body is too large');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return sendError(reply, 'invalid_input', 'the body is empty but Content-Type says JSON');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return sendError(reply, 'invalid_input', 'the body is not valid JSON');
  }
  const status = err.statusCode ?? 500;
  if (status === 413) return sendError(reply, 'payload_too_large', 'the request body is too large');
  if (status === 415) return sendError(reply, 'unsupported_media_type', 'send the body as JSON (Content-Type: application/json)');
  if (status === 429) return sendError(reply, 'rate_limited', 'too many requests');
  if (status >= 400 && status < 500) {
    // e.g. malformed JSON: the framework's message describes the input, never echoes it whole.
    return sendError(reply, 'invalid_input', err instanceof SyntaxError ? 'the body is not valid JSON' : 'the request could not be read');
  }
  req.log.error({ err }, 'management API request failed');
  return sendError(reply, 'internal_error', 'the server could not complete the request; try again later');
}

/** Readable field problems from a schema failure: `productIds[0] must be >= 1`. */
export function validationDetails(errors: readonly SchemaError[], context: string): FieldProblem[] {
  const out: FieldProblem[] = [];
  const seen = new Set<string>();
  const add = (path: string, message: string) => {
    const field = fieldName(path) || context;
    if (seen.has(field)) return;
    seen.add(field);
    out.push({ in: context, field, message });
  };
  for (const e of errors) {
    // Alternatives of an anyOf are summarised by the anyOf error itself.
    if (e.schemaPath.includes('/anyOf/') || e.keyword === 'boolean') continue;
    switch (e.keyword) {
      case 'required':
        for (const name of (e.params?.requiredProperties as string[] | undefined) ?? []) add(`${e.instancePath}/${name}`, 'is required');
        break;
      case 'additionalProperties':
        for (const name of (e.params?.additionalProperties as string[] | undefined) ?? []) add(`${e.instancePath}/${name}`, 'is not a known field');
        break;
      case 'anyOf':
        add(e.instancePath, alternatives(errors, e));
        break;
      default:
        add(e.instancePath, e.message ?? 'is invalid');
    }
  }
  return out;
}

function alternatives(errors: readonly SchemaError[], anyOf: SchemaError): string {
  const branches = errors.filter((e) => e.instancePath === anyOf.instancePath && e.schemaPath.startsWith(`${anyOf.schemaPath}/anyOf/`));
  // A value of the right type for one branch (a string where string or null is allowed) broke
  // that branch's own rule, e.g. its length: say that rule.
  const fitting = branches.find((e) => e.keyword !== 'type' && e.keyword !== 'const' && e.message);
  if (fitting) return fitting.message!;
  const consts = branches.filter((e) => e.keyword === 'const').map((e) => JSON.stringify(e.params?.allowedValue));
  const types = branches.filter((e) => e.keyword === 'type').map((e) => String(e.params?.type));
  if (consts.length && consts.length === branches.length) return `must be one of ${consts.join(', ')}`;
  if (types.length && types.length === branches.length) return `must be ${types.join(' or ')}`;
  return 'does not match any allowed form';
}

/** `/productIds/0/x` → `productIds[0].x`. */
function fieldName(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '');
}
