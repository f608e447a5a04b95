import { randomUUID } from 'node:crypto';
import { LICENSE_EVENTS, USAGE_EVENTS } from '../licensing/license-events.js';
import { MACHINE_EVENTS } from '../licensing/machine-events.js';

export const CHECK_EVENTS = ['check.failed', 'check.ip_bound'] as const;
export const WEBHOOK_EVENTS = [...LICENSE_EVENTS, ...MACHINE_EVENTS, ...USAGE_EVENTS, ...CHECK_EVENTS] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];
/** Sent only by the "test" action, to the one endpoint being tested. */
export const TEST_EVENT = 'webhook.test';

/** What an endpoint gets when it names no events: everything but the noisy, opt-in `check.failed`. */
export const DEFAULT_EVENTS: readonly WebhookEventType[] = WEBHOOK_EVENTS.filter((e) => e !== 'check.failed');

/** An event about to be queued: its type, when it happened, and its `data`. */
export interface QueuedEvent {
  type: WebhookEventType | typeof TEST_EVENT;
  time: number;
  data: Record<string, unknown>;
}

/** The JSON body every endpoint receives: `{ id, type, createdAt, data }`. */
export function eventBody(event: QueuedEvent, id: string = randomUUID()): { id: string; text: string } {
  return { id, text: JSON.stringify({ id, type: event.type, createdAt: new Date(event.time).toISOString(), data: event.data }) };
}
