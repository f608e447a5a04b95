import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../services.js';
import { actorOf } from './auth.js';
import { answerOnce } from './idempotency.js';
import { LicenseFileInput } from '../licensing/schemas/license-file.js';
import { describe, errorResponses, IdempotencyHeaders, IdParams, one } from './schemas.js';

/** Offline license files (docs/license-files.md). A file is a credential that cannot be revoked, so issuing one needs `licenses:write`. */
export function licenseFileRoutes(scope: FastifyInstance, services: Services): void {
  const api = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { licenseFiles, idempotency } = services;

  api.post(
    '/licenses/:id/file',
    {
      config: { scope: 'licenses:write' },
      // No body at all asks for the defaults, like `{}`.
      preValidation: async (req) => {
        if (req.body === undefined) req.body = {};
      },
      schema: {
        ...describe(
          'license-files',
          'issueLicenseFile',
          'Issue a signed license file for offline use; machine-bound (by `fingerprint`) when the license tracks machines. Audited; cannot be revoked',
          'licenses:write',
        ),
        params: IdParams,
        headers: IdempotencyHeaders,
        body: LicenseFileInput,
        response: { 200: one('LicenseFile', 'The file, shown in this answer only'), ...errorResponses(404, 409, 422) },
      },
    },
    async (req, reply) => answerOnce(req, reply, idempotency, 200, () => licenseFiles.issueForStaff(req.params.id, req.body, actorOf(req))),
  );
}
