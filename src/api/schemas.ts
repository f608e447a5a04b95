import { Type, type TObject, type TSchema } from 'typebox';
import { PageQuery } from '../licensing/paging.js';
import { Id, Nullable } from '../licensing/schemas/common.js';
import { License, LicenseWithKey } from '../licensing/schemas/license.js';
import { LicenseFile } from '../licensing/schemas/license-file.js';
import { AuditEntry, CheckEntry } from '../licensing/schemas/log.js';
import { Machine, Policy } from '../licensing/schemas/policy.js';
import { Product } from '../licensing/schemas/product.js';
import { Usage } from '../licensing/schemas/usage.js';
import { CreatedUser, User } from '../licensing/schemas/user.js';
import { Delivery, Webhook, WebhookWithSecret } from '../licensing/schemas/webhook.js';
import type { Scope } from '../licensing/token-service.js';

/**
 * What the routes share. Entities, inputs and their limits are the domain's schemas
 * (licensing/schemas/); here they get their OpenAPI component names, and the API its frame.
 */

export const IdParams = Type.Object({ id: Id }, { additionalProperties: false });

/** A domain input schema as a request body: unknown fields refused, and (for a change) at least one field. */
export const body = <T extends TObject>(input: T, options: { atLeastOne?: boolean } = {}): T =>
  ({ ...input, additionalProperties: false, ...(options.atLeastOne ? { minProperties: 1 } : {}) }) as T;

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'One of the closed list of error codes (see docs/api.md#errors)' }),
      message: Type.String(),
      details: Type.Optional(Type.Unknown()),
    }),
  },
  { $id: 'Error', description: 'Every error answers this shape' },
);

const STATUS_TEXT: Record<number, string> = {
  400: 'Invalid input (see error.details for the fields)',
  401: 'Missing, unknown or revoked API token',
  403: 'The token lacks the scope this endpoint needs',
  404: 'Not found',
  409: 'Conflict with the current state',
  413: 'Body too large',
  415: 'Body is not JSON',
  422: 'Idempotency-Key reused with a different request',
  429: 'Rate limited',
};

/** The error answers a route documents: 400, 401, 403 and 429 always, plus the given statuses. */
export function errorResponses(...extra: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const status of [400, 401, 403, ...extra, 429]) out[status] = { ...ErrorRef, description: STATUS_TEXT[status] ?? 'Error' } as TSchema;
  return out;
}

const ref = (id: string) => Type.Unsafe<unknown>({ $ref: `${id}#` });
export const ErrorRef = ref('Error');

export const Pagination = PageQuery;

/** A page of a list: pass `nextCursor` as `cursor` for the next page; null on the last one. */
export const page = (itemRef: string, description: string) =>
  Type.Object({ items: Type.Array(ref(itemRef)), nextCursor: Nullable(Type.String()) }, { description });

/** A domain schema under its OpenAPI component name. */
const component = <T extends TSchema>(schema: T, $id: string): T => ({ ...schema, $id }) as T;

/** Shared component schemas (OpenAPI `components.schemas`), registered once on the API scope. */
export const COMPONENTS = [
  ErrorBody,
  component(License, 'License'),
  component(LicenseWithKey, 'LicenseWithKey'),
  component(Product, 'Product'),
  component(Policy, 'Policy'),
  component(Machine, 'Machine'),
  component(Usage, 'Usage'),
  component(LicenseFile, 'LicenseFile'),
  component(User, 'User'),
  component(CreatedUser, 'CreatedUser'),
  component(CheckEntry, 'CheckEntry'),
  component(AuditEntry, 'AuditEntry'),
  component(Webhook, 'Webhook'),
  component(WebhookWithSecret, 'WebhookWithSecret'),
  component(Delivery, 'Delivery'),
];
export const one = (id: string, description?: string) => ({ ...ref(id), ...(description ? { description } : {}) });

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({ minLength: 1, maxLength: 255, description: 'Makes a retried create run once; the first answer is replayed for 24 h' }),
  ),
});

/** What every route declares: its tag, summary and the scope its token needs. */
export function describe(tag: string, operationId: string, summary: string, scope: Scope) {
  return { tags: [tag], operationId, summary, description: `Needs scope \`${scope}\`.`, security: [{ apiToken: [scope] }] };
}

export const NoContent = Type.Null({ description: 'Done; no body' });
