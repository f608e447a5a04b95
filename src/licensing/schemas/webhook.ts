import { Type, type Static } from 'typebox';
import { WEBHOOK_EVENTS } from '../../webhooks/events.js';
import { Id, Literals, Nullable, Time } from './common.js';
import { LIMITS } from './limits.js';

/** Outgoing webhook endpoints and their delivery log. */

const W = LIMITS.webhook;

export const WebhookEvent = Literals(WEBHOOK_EVENTS);
export const WebhookUrl = Type.String({
  minLength: W.url.min,
  maxLength: W.url.max,
  description: 'An http:// or https:// URL that receives POSTs; no user:pass@, and a public address unless the server sets WEBHOOK_ALLOW_PRIVATE=true',
});
export const WebhookEvents = Type.Array(WebhookEvent, {
  minItems: 1,
  maxItems: WEBHOOK_EVENTS.length,
  description: 'Default: every event except the opt-in, rate-capped `check.failed`',
});
export const WebhookDescription = Nullable(Type.String({ maxLength: W.description }));
export const WebhookSecret = Type.String({
  minLength: W.secret.min,
  maxLength: W.secret.max,
  pattern: '^[\\x21-\\x7e]*$',
  rule: 'may hold only printable characters without spaces',
  description: 'Your own signing secret; generated when absent',
});

export const WebhookCreateInput = Type.Object(
  {
    url: WebhookUrl,
    events: Type.Optional(WebhookEvents),
    description: Type.Optional(WebhookDescription),
    secret: Type.Optional(WebhookSecret),
    active: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
/** Events are named as text by the CLI; the webhook service checks them against the list. */
export type WebhookCreate = Omit<Static<typeof WebhookCreateInput>, 'events'> & { events?: readonly string[] };

export const WebhookUpdateInput = Type.Object(
  { url: Type.Optional(WebhookUrl), events: Type.Optional(WebhookEvents), description: Type.Optional(WebhookDescription), active: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);
export type WebhookUpdate = Omit<Static<typeof WebhookUpdateInput>, 'events'> & { events?: readonly string[] };

const webhookFields = {
  id: Id,
  url: Type.String(),
  description: Nullable(Type.String()),
  events: Type.Array(Type.String()),
  active: Type.Boolean(),
  createdAt: Time,
  updatedAt: Time,
};
export const Webhook = Type.Object(webhookFields);
export const WebhookWithSecret = Type.Object({ ...webhookFields, secret: Type.String({ description: 'The signing secret: shown in this answer only' }) });

export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;
export const DeliveryStatus = Literals(DELIVERY_STATUSES);
export const Delivery = Type.Object({
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
});
