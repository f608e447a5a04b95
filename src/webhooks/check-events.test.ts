import { describe, expect, it } from 'vitest';
import type { AuthLogInsert, WebhookEndpointRow } from '../storage/schema.js';
import { CheckEventForwarder, CheckEventTap } from './check-events.js';
import type { QueuedEvent } from './events.js';
import type { WebhookQueue } from './webhook-queue.js';

const endpoint = (id: number) => ({ id }) as WebhookEndpointRow;

/** Stands in for the queue: offers every event to two endpoints and records what each accepts. */
class FakeQueue {
  readonly accepted = new Map<number, QueuedEvent[]>([
    [1, []],
    [2, []],
  ]);
  async enqueue(events: readonly QueuedEvent[], options: { accept?: (e: WebhookEndpointRow, ev: QueuedEvent) => boolean }): Promise<number[]> {
    for (const event of events) {
      for (const id of this.accepted.keys()) if (options.accept?.(endpoint(id), event) ?? true) this.accepted.get(id)!.push(event);
    }
    return [];
  }
}

const row = (i: number, status = 'NOT FOUND', time = Date.now()): AuthLogInsert => ({
  time,
  license_id: null,
  product_id: 8,
  ip: `198.51.100.${i % 250}`,
  status,
  info: null,
  user_agent: null,
});

describe('check.failed events from written Previous Auths', () => {
  it('builds no more events per batch than an endpoint may take in a minute, and each endpoint still gets its cap', async () => {
    const tap = new CheckEventTap();
    const queue = new FakeQueue();
    const forwarder = new CheckEventForwarder(tap, queue as unknown as WebhookQueue, { checkFailedPerMinute: 3, onError: () => {}, flushMs: 60_000 });
    let built = 0;
    const counting = new CheckEventTap();
    // What the tap builds for a listener that has room for 3.
    counting.attach((events) => (built += events.length), () => 3 - built);
    const rows = [row(0, 'AUTHORISED'), ...Array.from({ length: 1000 }, (_, i) => row(i + 1)), row(2000, 'NOT FOUND', Date.now() - 10 * 60_000)];
    counting.checksWritten(rows);
    expect(built).toBe(3);

    tap.checksWritten(rows);
    tap.checksWritten(rows); // a second write in the same batch adds nothing: the batch is full
    await forwarder.flush();
    const ips = (id: number) => queue.accepted.get(id)!.map((e) => (e.data.check as { ip: string }).ip);
    expect(ips(1)).toEqual(['198.51.100.1', '198.51.100.2', '198.51.100.3']);
    expect(ips(2)).toEqual(['198.51.100.1', '198.51.100.2', '198.51.100.3']);

    // The next batch builds events again, but both endpoints have used up this minute.
    tap.checksWritten(rows);
    await forwarder.flush();
    expect(queue.accepted.get(1)).toHaveLength(3);
    expect(queue.accepted.get(2)).toHaveLength(3);
    await forwarder.close();
  });

  it('builds none when check.failed events are off (0 a minute)', async () => {
    const tap = new CheckEventTap();
    const queue = new FakeQueue();
    const forwarder = new CheckEventForwarder(tap, queue as unknown as WebhookQueue, { checkFailedPerMinute: 0, onError: () => {} });
    tap.checksWritten([row(1), row(2)]);
    await forwarder.close();
    expect(queue.accepted.get(1)).toEqual([]);
  });

  it('never turns an authorised check or one older than five minutes into an event', async () => {
    const tap = new CheckEventTap();
    const queue = new FakeQueue();
    const forwarder = new CheckEventForwarder(tap, queue as unknown as WebhookQueue, { checkFailedPerMinute: 100, onError: () => {} });
    tap.checksWritten([row(1, 'AUTHORISED'), row(2, 'KEY DISABLED', Date.now() - 6 * 60_000), row(3, 'EXPIRED')]);
    await forwarder.close();
    expect(queue.accepted.get(1)!.map((e) => (e.data.check as { status: string }).status)).toEqual(['EXPIRED']);
  });
});
