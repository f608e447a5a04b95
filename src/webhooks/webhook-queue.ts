import type { LicenseEvent, LicenseEventOutbox } from '../licensing/license-events.js';
import type { ChangeFeed } from '../storage/change-feed.js';
import type { WebhookDeliveryRow, WebhookEndpointRow } from '../storage/schema.js';
import type { TransactionRepos } from '../storage/transactions.js';
import type { WebhookRepository } from '../storage/webhook-repository.js';
import { RETRY_WINDOW_MS } from './backoff.js';
import { eventBody, type QueuedEvent } from './events.js';

/** Endpoints are re-read at most this often when check events are queued in bursts. */
const ENDPOINT_CACHE_MS = 1000;

export interface EnqueueOptions {
  /** Only this endpoint (the "test" action), whatever events it subscribes to. */
  endpointId?: number;
  /** Per endpoint and event: false skips it (the `check.failed` rate cap). */
  accept?: (endpoint: WebhookEndpointRow, event: QueuedEvent) => boolean;
}

/**
 * Turns events into delivery rows, one per subscribed endpoint, in the database: whichever
 * process makes a change (CLI, API, dashboard), the server's delivery worker sends it, and a
 * restart loses nothing. A change's events are its outbox: queued through the change's own
 * transaction (`queue`, `queueIn`), so they commit with it or not at all, and the change then
 * announces `webhooks`, which wakes the delivery workers. Check events, which are not part of
 * any change, are queued on their own (`enqueue`).
 */
export class WebhookQueue implements LicenseEventOutbox {
  private endpoints: { rows: WebhookEndpointRow[]; at: number } | null = null;

  constructor(
    private readonly repo: WebhookRepository,
    private readonly changes: ChangeFeed,
  ) {}

  /** LicenseService's outbox: the events' deliveries, in the change's transaction. */
  async queue(t: TransactionRepos, events: readonly LicenseEvent[]): Promise<void> {
    await this.queueIn(
      t,
      events.map((event) => ({ type: event.type, time: event.time, data: event.previous ? { license: event.license, previous: event.previous } : { license: event.license } })),
    );
  }

  /**
   * Queues each event for every active endpoint subscribed to it, in the transaction `t`, with the
   * endpoints as that transaction sees them; returns the deliveries made.
   */
  async queueIn(t: TransactionRepos, events: readonly QueuedEvent[], options: EnqueueOptions = {}): Promise<number[]> {
    if (events.length === 0) return [];
    const rows = deliveryRows(events, await t.webhooks.listEndpoints(true), options, Date.now());
    const inserted = await t.webhooks.insertDeliveries(rows);
    if (inserted.length) t.alsoAnnounce('webhooks');
    return inserted.map((r) => r.id);
  }

  /** Queues the same event (same id and body) to the same endpoint again, in `t`, with a fresh 24 h of retries. */
  async requeueIn(t: TransactionRepos, delivery: WebhookDeliveryRow): Promise<number> {
    const [row] = await t.webhooks.insertDeliveries([
      pendingDelivery(delivery.endpoint_id, delivery.event_id, delivery.event, delivery.payload, Date.now()),
    ]);
    t.alsoAnnounce('webhooks');
    return row!.id;
  }

  /** Queues events that belong to no change (check events), on their own; returns the deliveries made. */
  async enqueue(events: readonly QueuedEvent[], options: EnqueueOptions = {}): Promise<number[]> {
    if (events.length === 0) return [];
    const inserted = await this.repo.insertDeliveries(deliveryRows(events, await this.activeEndpoints(), options, Date.now()));
    // This process's worker is told at once; a worker elsewhere that misses it finds them on its next poll (WEBHOOK_POLL_MS).
    if (inserted.length) await this.changes.announce('webhooks').catch(() => {});
    return inserted.map((r) => r.id);
  }


  /** Endpoints changed in this process: do not wait for the cache to expire. */
  forgetEndpoints(): void {
    this.endpoints = null;
  }

  private async activeEndpoints(): Promise<WebhookEndpointRow[]> {
    const now = Date.now();
    if (!this.endpoints || now - this.endpoints.at > ENDPOINT_CACHE_MS) {
      this.endpoints = { rows: await this.repo.listEndpoints(true), at: now };
    }
    return this.endpoints.rows;
  }
}

/** One pending delivery per event and endpoint that wants it. */
function deliveryRows(events: readonly QueuedEvent[], endpoints: readonly WebhookEndpointRow[], options: EnqueueOptions, now: number) {
  const rows = [];
  for (const event of events) {
    let body: { id: string; text: string } | null = null;
    for (const endpoint of endpoints) {
      if (options.endpointId !== undefined ? endpoint.id !== options.endpointId : !subscribes(endpoint, event.type)) continue;
      if (options.accept && !options.accept(endpoint, event)) continue;
      // Built only when someone gets it: failed checks can be many and wanted by no one.
      body ??= eventBody(event);
      rows.push(pendingDelivery(endpoint.id, body.id, event.type, body.text, now));
    }
  }
  return rows;
}

export function endpointEvents(row: WebhookEndpointRow): string[] {
  try {
    const value: unknown = JSON.parse(row.events);
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
  } catch {
    return [];
  }
}

const subscribes = (endpoint: WebhookEndpointRow, type: string): boolean => endpointEvents(endpoint).includes(type);

/** A delivery due now, with a fresh 24 h of retries. */
function pendingDelivery(endpointId: number, eventId: string, event: string, payload: string, now: number) {
  return {
    endpoint_id: endpointId,
    event_id: eventId,
    event,
    payload,
    status: 'pending' as const,
    attempts: 0,
    next_attempt_at: now,
    locked_until: null,
    retry_until: now + RETRY_WINDOW_MS,
    last_status_code: null,
    last_error: null,
    created_at: now,
    updated_at: now,
    delivered_at: null,
  };
}
