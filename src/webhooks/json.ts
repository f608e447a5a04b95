import type { Static } from 'typebox';
import { iso } from '../licensing/json.js';
import type { Delivery, Webhook } from '../licensing/schemas/webhook.js';
import type { WebhookDeliveryRow, WebhookEndpointRow } from '../storage/schema.js';
import { endpointEvents } from './webhook-queue.js';
import { shownUrl } from './webhook-target.js';

export type WebhookJson = Static<typeof Webhook>;
export type DeliveryJson = Static<typeof Delivery>;

/** An endpoint as the API and CLI show it: never its secret, nor credentials in its URL. */
export const webhookJson = (r: WebhookEndpointRow): WebhookJson => ({
  id: r.id,
  url: shownUrl(r.url),
  description: r.description,
  events: endpointEvents(r),
  active: r.active === 1,
  createdAt: iso(r.created_at)!,
  updatedAt: iso(r.updated_at)!,
});

/** One delivery in the delivery log, with the exact body sent. */
export const deliveryJson = (r: WebhookDeliveryRow): DeliveryJson => ({
  id: r.id,
  webhookId: r.endpoint_id,
  eventId: r.event_id,
  event: r.event,
  status: r.status,
  attempts: r.attempts,
  nextAttemptAt: r.status === 'pending' ? iso(r.next_attempt_at) : null,
  lastStatusCode: r.last_status_code,
  lastError: r.last_error,
  createdAt: iso(r.created_at)!,
  deliveredAt: iso(r.delivered_at),
  payload: parsePayload(r.payload),
});

function parsePayload(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}
