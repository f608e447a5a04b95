import type { FastifyInstance } from 'fastify';
import type { SigningKeyService } from '../licensing/signing-keys.js';

/** GET /api/public-key: the keys that verify signed check answers (docs/signed-answers.md). */
export async function publicKeyRoute(app: FastifyInstance, opts: { signingKeys: SigningKeyService }): Promise<void> {
  app.get('/api/public-key', async (_req, reply) => {
    reply.header('cache-control', 'public, max-age=300');
    return opts.signingKeys.publicKeys();
  });
}
