import { Type, type TSchema } from 'typebox';
import type { Scope } from '../licensing/token-service.js';

/** TypeBox schemas shared by the routes: they validate input and generate the OpenAPI document. */

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

const MAX_ID = 2_147_483_647;
export const Id = Type.Integer({ minimum: 1, maximum: MAX_ID });
export const IdParams = Type.Object({ id: Id }, { additionalProperties: false });
const Time = Type.String({ format: 'date-time', description: 'ISO 8601 UTC' });
/** Times in filters: a date or date-time (a time without a zone is UTC). */
export const TimeFilter = Type.String({ minLength: 10, maxLength: 40, description: 'ISO 8601 date or date-time; no zone means UTC' });

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

export const Pagination = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Page size (default 100)' })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'The `nextCursor` of the previous page' })),
};

/** A page of a list: pass `nextCursor` as `cursor` for the next page; null on the last one. */
export const page = (itemRef: string, description: string) =>
  Type.Object({ items: Type.Array(ref(itemRef)), nextCursor: Nullable(Type.String()) }, { description });

export const LicenseStatus = Type.Union([Type.Literal('active'), Type.Literal('inactive'), Type.Literal('disabled'), Type.Literal('expired')]);

const licenseFields = {
  id: Id,
  productIds: Type.Array(Id),
  owner: Nullable(Type.String({ description: 'Username of the owner' })),
  active: Type.Boolean({ description: "The owner's on/off switch" }),
  disabled: Type.Boolean({ description: "Staff's disable switch" }),
  ipLocked: Type.Boolean(),
  ips: Type.Array(Type.String(), { description: 'Allowed IPs / CIDR blocks' }),
  expiresAt: Nullable(Time),
  note: Nullable(Type.String()),
  totalChecks: Type.Integer(),
  lastCheckAt: Nullable(Time),
  lastIp: Nullable(Type.String()),
  createdAt: Time,
  updatedAt: Time,
};
export const License = Type.Object(licenseFields, { $id: 'License' });
export const LicenseWithKey = Type.Object(
  { ...licenseFields, key: Type.String({ description: 'The clear key: shown in this answer only' }) },
  { $id: 'LicenseWithKey' },
);

export const Product = Type.Object(
  { id: Id, name: Type.String(), description: Nullable(Type.String()), createdAt: Time, updatedAt: Time },
  { $id: 'Product' },
);

export const Role = Type.Union([Type.Literal('customer'), Type.Literal('staff'), Type.Literal('admin')]);
const userFields = {
  id: Id,
  username: Type.String(),
  email: Nullable(Type.String()),
  role: Role,
  discordId: Nullable(Type.String()),
  disabled: Type.Boolean(),
  createdAt: Time,
};
export const User = Type.Object(userFields, { $id: 'User' });
export const CreatedUser = Type.Object(
  { ...userFields, password: Type.Optional(Type.String({ description: 'The generated password, when none was given: shown in this answer only' })) },
  { $id: 'CreatedUser' },
);

export const CheckEntry = Type.Object(
  {
    id: Type.Integer(),
    time: Time,
    licenseId: Nullable(Type.Integer()),
    productId: Nullable(Type.Integer()),
    ip: Type.String(),
    status: Type.String({ description: 'AUTHORISED, NOT FOUND, KEY DISABLED, NOT ACTIVE, EXPIRED, NOT AUTHORISED, …' }),
    info: Nullable(Type.String()),
    userAgent: Nullable(Type.String()),
  },
  { $id: 'CheckEntry', description: 'One Previous Auths entry' },
);

export const AuditEntry = Type.Object(
  {
    id: Type.Integer(),
    time: Time,
    actor: Type.String({ description: 'e.g. `token:<name>`, `cli:<user>`, `user:<name>`' }),
    action: Type.String(),
    targetType: Type.String(),
    targetId: Nullable(Type.String()),
    before: Type.Unknown(),
    after: Type.Unknown(),
  },
  { $id: 'AuditEntry' },
);

export const WebhookEvent = Type.Union([
  Type.Literal('license.created'),
  Type.Literal('license.updated'),
  Type.Literal('license.deleted'),
  Type.Literal('license.regenerated'),
  Type.Literal('check.failed'),
  Type.Literal('check.ip_bound'),
]);
const webhookFields = {
  id: Id,
  url: Type.String(),
  description: Nullable(Type.String()),
  events: Type.Array(Type.String()),
  active: Type.Boolean(),
  createdAt: Time,
  updatedAt: Time,
};
export const Webhook = Type.Object(webhookFields, { $id: 'Webhook' });
export const WebhookWithSecret = Type.Object(
  { ...webhookFields, secret: Type.String({ description: 'The signing secret: shown in this answer only' }) },
  { $id: 'WebhookWithSecret' },
);

export const DeliveryStatus = Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]);
export const Delivery = Type.Object(
  {
    id: Type.Integer(),
    webhookId: Id,
    eventId: Type.String(),
    event: Type.String(),
    status: DeliveryStatus,
    attempts: Type.Integer(),
    nextAttemptAt: Nullable(Time),
    lastStatusCode: Nullable(Type.Integer()),
    lastError: Nullable(Type.String()),
    createdAt: Time,
    deliveredAt: Nullable(Time),
    payload: Type.Unknown({ description: 'The JSON body sent' }),
  },
  { $id: 'Delivery' },
);

/** Shared component schemas (OpenAPI `components.schemas`), registered once on the API scope. */
export const COMPONENTS = [ErrorBody, License, LicenseWithKey, Product, User, CreatedUser, CheckEntry, AuditEntry, Webhook, WebhookWithSecret, Delivery];
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
