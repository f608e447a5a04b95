import { isPassing } from '../licensing/validate-license.js';
import { parseIps } from '../storage/license-repository.js';
import type { AuthLogInsert, WebhookEndpointRow } from '../storage/schema.js';
import type { QueuedEvent } from './events.js';
import type { WebhookQueue } from './webhook-queue.js';

/** Failed checks older than this when written (e.g. imported history) are not events. */
const RECENT_MS = 5 * 60_000;

/**
 * Where the check path's side effects become webhook events. The storage taps (check-taps.ts)
 * call it after Previous Auths are written and after a license binds its first IP: already off
 * the check's critical path. It does nothing until the server's forwarder attaches, so the CLI
 * never turns its writes into check events.
 */
export class CheckEventTap {
  private listener: ((events: QueuedEvent[]) => void) | null = null;
  private failedRoom: () => number = () => Infinity;

  /** `failedRoom` says how many more `check.failed` events the listener can use right now. */
  attach(listener: (events: QueuedEvent[]) => void, failedRoom?: () => number): () => void {
    this.listener = listener;
    this.failedRoom = failedRoom ?? (() => Infinity);
    return () => {
      if (this.listener === listener) this.listener = null;
    };
  }

  checksWritten(rows: readonly AuthLogInsert[]): void {
    const listener = this.listener;
    if (!listener) return;
    // Under key guessing most rows fail; no event is built beyond what the listener can use.
    let room = this.failedRoom();
    if (room <= 0) return;
    const since = Date.now() - RECENT_MS;
    const events: QueuedEvent[] = [];
    for (const row of rows) {
      if (isPassing(row.status) || row.time < since) continue;
      if (room-- <= 0) break;
      const check = {
        time: new Date(row.time).toISOString(),
        licenseId: row.license_id ?? null,
        productId: row.product_id ?? null,
        ip: row.ip,
        status: row.status,
        info: row.info ?? null,
        userAgent: row.user_agent ?? null,
      };
      events.push({ type: 'check.failed', time: row.time, data: { check } });
    }
    if (events.length) listener(events);
  }

  ipBound(licenseId: number, ips: string, time: number): void {
    this.listener?.([{ type: 'check.ip_bound', time, data: { licenseId, ips: parseIps(ips) } }]);
  }
}

export interface ForwarderOptions {
  checkFailedPerMinute: number;
  onError: (err: unknown) => void;
  /** How long events gather before they are queued in one batch. */
  flushMs?: number;
  /** Events held in memory at most; beyond it new ones are dropped (the database is down). */
  maxBuffered?: number;
}

/**
 * The server's side of the tap: buffers check events and queues them in batches, once a
 * second, applying the per-endpoint `check.failed` cap so key guessing cannot flood receivers.
 */
export class CheckEventForwarder {
  private buffer: QueuedEvent[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private readonly windows = new Map<number, { start: number; count: number }>();
  private readonly detach: () => void;

  constructor(
    tap: CheckEventTap,
    private readonly queue: WebhookQueue,
    private readonly options: ForwarderOptions,
  ) {
    // No endpoint takes more than checkFailedPerMinute check.failed events a minute, so a batch
    // never needs more than that many: the tap stops building them there.
    this.detach = tap.attach(
      (events) => this.push(events),
      () => this.options.checkFailedPerMinute - this.failedBuffered,
    );
  }

  /** check.failed events in the buffer (the batch being gathered). */
  private failedBuffered = 0;

  private push(events: QueuedEvent[]): void {
    const room = (this.options.maxBuffered ?? 10_000) - this.buffer.length;
    if (room <= 0) return;
    const taken = events.length > room ? events.slice(0, room) : events;
    for (const e of taken) if (e.type === 'check.failed') this.failedBuffered++;
    this.buffer.push(...taken);
    this.timer ??= setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.options.flushMs ?? 1000);
  }

  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    this.failedBuffered = 0;
    this.flushing = this.queue
      .enqueue(batch, { accept: (endpoint, event) => this.accept(endpoint, event) })
      .then(
        () => undefined,
        (err) => this.options.onError(err),
      )
      .finally(() => {
        this.flushing = null;
      });
    await this.flushing;
  }

  /** Stops listening and queues what is buffered. */
  async close(): Promise<void> {
    this.detach();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
  }

  private accept(endpoint: WebhookEndpointRow, event: QueuedEvent): boolean {
    if (event.type !== 'check.failed') return true;
    const now = Date.now();
    let window = this.windows.get(endpoint.id);
    if (!window || now - window.start >= 60_000) {
      window = { start: now, count: 0 };
      this.windows.set(endpoint.id, window);
    }
    if (window.count >= this.options.checkFailedPerMinute) return false;
    window.count++;
    return true;
  }
}
