import type { FastifyReply, FastifyRequest } from 'fastify';
import { KeywardError } from '../errors.js';
import { IdempotencyService } from '../licensing/idempotency-service.js';

const KEY_RE = /^[\x21-\x7e]{1,255}$/;

/**
 * Answers a create: with an Idempotency-Key, the first request runs and its answer is stored;
 * retries (also concurrent ones, in any instance) get that same answer, marked
 * `Idempotent-Replayed: true`, instead of creating again.
 */
export async function answerOnce(
  req: FastifyRequest,
  reply: FastifyReply,
  service: IdempotencyService,
  status: number,
  work: () => Promise<unknown>,
): Promise<FastifyReply> {
  const key = req.headers['idempotency-key'];
  if (key === undefined) return reply.code(status).send(await work());
  if (typeof key !== 'string' || !KEY_RE.test(key)) {
    throw new KeywardError('invalid_input', 'an Idempotency-Key is 1-255 printable characters', [
      { in: 'headers', field: 'idempotency-key', message: 'must be 1-255 printable characters without spaces' },
    ]);
  }
  const hash = IdempotencyService.fingerprint({ method: req.method, route: req.routeOptions.url ?? '', params: req.params, body: req.body });
  const answer = await service.run(req.apiToken!.id, key, hash, async () => ({ status, body: await work() }));
  if (answer.replayed) reply.header('idempotent-replayed', 'true');
  return reply.code(answer.status).send(answer.body);
}
