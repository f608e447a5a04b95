import type { SwaggerOptions } from '@fastify/swagger';
import type { Config } from '../config.js';
import { SCOPES } from '../licensing/token-service.js';

/** The OpenAPI 3.1 document is generated from the routes' schemas; this is only its frame. */
export function openapiOptions(config: Config): SwaggerOptions {
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Keyward management API',
        version: '1',
        description:
          'Manage products, licenses (their usage counters and offline license files), policies and machines, users, Previous Auths, the audit log and webhooks. ' +
          'Authenticate with an API token: `Authorization: Bearer kw_…` (create one with `keyward token create`). ' +
          'Errors answer `{ "error": { "code", "message", "details"? } }`. Guide: docs/api.md.',
      },
      servers: [{ url: `${config.PUBLIC_URL}/api/v1` }],
      components: {
        securitySchemes: {
          apiToken: {
            type: 'http',
            scheme: 'bearer',
            description: `An API token (\`kw_…\`). Each operation lists the scope it needs: ${SCOPES.join(', ')}.`,
          },
        },
      },
      tags: [
        { name: 'products', description: 'What licenses grant' },
        { name: 'licenses', description: 'Keys, their products, owner, IP lock and expiry' },
        { name: 'policies', description: 'Templates licenses are issued from: products, duration, machine limits, entitlements' },
        { name: 'machines', description: 'The devices or servers a license runs on; staff free them without a daily allowance' },
        { name: 'usage', description: "Metered licenses: a license's usage counter and the limit in force" },
        { name: 'license-files', description: 'Signed license files a product verifies offline, bound to a machine when the license tracks machines' },
        { name: 'users', description: 'Customer, staff and admin accounts' },
        { name: 'logs', description: 'Previous Auths (the check log) and the audit log' },
        { name: 'webhooks', description: 'Signed outgoing events and their delivery log' },
      ],
    },
    // Paths relative to the server URL above (…/api/v1).
    transform: ({ schema, url }) => ({ schema, url: url.replace(/^\/api\/v1(?=\/)/, '') }),
    refResolver: {
      // Shared schemas keep their names in components.schemas (License, Product, …).
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  };
}
