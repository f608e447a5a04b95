import type { LicenseEvent, LicenseEventSink } from '../licensing/license-events.js';
import type { ChangeFeed } from '../storage/change-feed.js';
import type { WebhookDeliveryRow, WebhookEndpointRow } from '../storage/schema.js';
import type { WebhookRepository } from '../storage/webhook-repository.js';
import { RETRY_WINDOW_MS } from './backoff.js';
import { eventBody, type QueuedEvent } from './events.js';

/** Endpoints are re-read at most this often when events are queued in bursts. */
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
 * restart loses nothing. It is LicenseService's event sink. Queued deliveries are announced on the
 * `webhooks` topic, which wakes the delivery worker of this process and of every other.
 */
export class WebhookQueue implements LicenseEventSink {
  private endpoints: { rows: WebhookEndpointRow[]; at: number } | null = null;

  /** Told when queuing an event failed (the change it describes is committed regardless). */
  reportError: (err: unknown) => void = (err) => {
    process.stderr.write(`keyward: warning: queuing a webhook event failed: ${(err as Error)?.message ?? String(err)}\n`);
  };

  constructor(
    private readonly repo: WebhookRepository,
    private readonly changes: ChangeFeed,
  ) {}

  async publish(event: LicenseEvent): Promise<void> {
    const data: Record<string, unknown> = { license: event.license };
    if (event.previous) data.previous = event.previous;
    try {
      await this.enqueue([{ type: event.type, time: event.time, data }]);
    } catch (err) {
      this.reportError(err);
    }
  }

  /** Queues each event for every active endpoint subscribed to it; returns the deliveries made. */
  async enqueue(events: readonly QueuedEvent[], options: EnqueueOptions = {}): Promise<number[]> {
    if (events.length === 0) return [];
    const endpoints = await this.activeEndpoints(options.endpointId !== undefined);
    const now = Date.now();
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
    const inserted = await this.repo.insertDeliveries(rows);
    if (inserted.length) await this.wakeWorkers();
    return inserted.map((r) => r.id);
  }

  /** Queues the same event (same id and body) to the same endpoint again, with a fresh 24 h of retries. */
  async requeue(delivery: WebhookDeliveryRow): Promise<number> {
    const now = Date.now();
    const [row] = await this.repo.insertDeliveries([
      pendingDelivery(delivery.endpoint_id, delivery.event_id, delivery.event, delivery.payload, now),
    ]);
    await this.wakeWorkers();
    return row!.id;
  }

  /**
   * The deliveries are queued whatever happens here: this process's worker is told first, and a
   * worker elsewhere that does not hear of them finds them on its next poll (WEBHOOK_POLL_MS).
   */
  private async wakeWorkers(): Promise<void> {
    await this.changes.announce('webhooks').catch(() => {});
  }

  /** Endpoints changed in this process: do not wait for the cache to expire. */
  forgetEndpoints(): void {
    this.endpoints = null;
  }

  private async activeEndpoints(fresh: boolean): Promise<WebhookEndpointRow[]> {
    const now = Date.now();
    if (fresh || !this.endpoints || now - this.endpoints.at > ENDPOINT_CACHE_MS) {
      this.endpoints = { rows: await this.repo.listEndpoints(true), at: now };
    }
    return this.endpoints.rows;
  }
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
