import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CheckRecord } from '../licensing/check-license.js';
import type { AuthLogRepository, CounterDelta } from './auth-log-repository.js';
import type { AuthLogInsert } from './schema.js';
import { WriteBehind, type WriteBehindOptions } from './write-behind.js';

interface Batch {
  rows: AuthLogInsert[];
  counters: Record<number, CounterDelta>;
}

/**
 * Stands in for AuthLogRepository: keeps a deep copy of every batch it is given, and what it
 * "committed". `failNext` makes the next calls reject; `hold` keeps the next call pending.
 */
class FakeRepo {
  readonly calls: Batch[] = [];
  readonly committedRows: AuthLogInsert[] = [];
  readonly committedCounters = new Map<number, CounterDelta>();
  failNext = 0;
  /** Rows the "database" refuses for their data: a batch holding one is rejected whole (code 22021). */
  refuses: (row: AuthLogInsert) => boolean = () => false;
  /** Call numbers (1 = the first writeBatch) that fail as if the database were down. */
  downOnCalls = new Set<number>();
  private held: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  private holdNext = 0;

  hold(): void {
    this.holdNext++;
  }

  release(ok = true): void {
    const h = this.held.shift();
    if (!h) throw new Error('nothing held');
    if (ok) h.resolve();
    else h.reject(new Error('db down (held)'));
  }

  async writeBatch(rows: readonly AuthLogInsert[], counters: ReadonlyMap<number, CounterDelta>): Promise<void> {
    const batch: Batch = {
      rows: rows.map((r) => ({ ...r })),
      counters: Object.fromEntries([...counters].map(([id, d]) => [id, { ...d }])),
    };
    this.calls.push(batch);
    if (this.holdNext > 0) {
      this.holdNext--;
      await new Promise<void>((resolve, reject) => this.held.push({ resolve, reject }));
    }
    if (this.failNext > 0 || this.downOnCalls.has(this.calls.length)) {
      this.failNext = Math.max(0, this.failNext - 1);
      throw new Error('db down');
    }
    if (batch.rows.some((r) => this.refuses(r))) {
      throw Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' });
    }
    this.committedRows.push(...batch.rows);
    for (const [id, d] of Object.entries(batch.counters)) {
      const prev = this.committedCounters.get(Number(id));
      if (!prev) this.committedCounters.set(Number(id), { ...d });
      else {
        prev.checks += d.checks;
        if (d.lastCheckAt >= prev.lastCheckAt) Object.assign(prev, { lastCheckAt: d.lastCheckAt, lastIp: d.lastIp });
      }
    }
  }

  get totalChecks(): number {
    return [...this.committedCounters.values()].reduce((sum, d) => sum + d.checks, 0);
  }
}

function entry(overrides: Partial<CheckRecord> = {}): CheckRecord {
  return { time: 1_000, licenseId: 1, productId: 8, ip: '1.1.1.1', status: 'AUTHORISED', info: null, userAgent: null, ...overrides };
}

let repo: FakeRepo;
let errors: Array<{ err: unknown; dropped: number }>;
let refused: AuthLogInsert[];

function make(options: Partial<WriteBehindOptions> = {}): WriteBehind {
  return new WriteBehind(repo as unknown as AuthLogRepository, {
    flushMs: 100,
    onError: (err, dropped) => errors.push({ err, dropped }),
    onRefused: (_err, row) => refused.push(row),
    ...options,
  });
}

beforeEach(() => {
  repo = new FakeRepo();
  errors = [];
  refused = [];
});

describe('WriteBehind: batching (fake timers)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes nothing synchronously, then one batch after flushMs', async () => {
    const wb = make({ flushMs: 100 });
    wb.record(entry({ time: 1, licenseId: 1, info: 'a' }), true);
    wb.record(entry({ time: 2, licenseId: 2, info: 'b' }), true);
    wb.record(entry({ time: 3, licenseId: null, status: 'NOT FOUND', info: 'c' }), true);
    expect(repo.calls).toHaveLength(0);
    expect(wb.queued).toBe(5); // 3 rows + 2 licenses with counters
    await vi.advanceTimersByTimeAsync(99);
    expect(repo.calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(repo.calls).toHaveLength(1);
    expect(repo.calls[0]!.rows.map((r) => r.info)).toEqual(['a', 'b', 'c']);
    expect(wb.queued).toBe(0);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(repo.calls).toHaveLength(1);
  });

  it('maps a record to a Previous Auths row', async () => {
    const wb = make();
    wb.record({ time: 42, licenseId: 3, productId: 16, ip: '2001:db8::1', status: 'EXPIRED', info: 'srv', userAgent: 'curl/8' }, true);
    await vi.advanceTimersByTimeAsync(100);
    expect(repo.calls[0]!.rows).toEqual([
      { time: 42, license_id: 3, product_id: 16, ip: '2001:db8::1', status: 'EXPIRED', info: 'srv', user_agent: 'curl/8', endpoint: null },
    ]);
  });

  it('sums counters per license, keeping the latest time and its IP', async () => {
    const wb = make();
    wb.record(entry({ licenseId: 1, time: 1_000, ip: '10.0.0.1' }), true);
    wb.record(entry({ licenseId: 1, time: 3_000, ip: '10.0.0.3' }), true);
    wb.record(entry({ licenseId: 1, time: 2_000, ip: '10.0.0.2' }), true); // arrives late: not the latest
    wb.record(entry({ licenseId: 2, time: 500, ip: '10.0.0.9' }), false);
    wb.record(entry({ licenseId: null, time: 9_000, ip: '6.6.6.6' }), true);
    await vi.advanceTimersByTimeAsync(100);
    expect(repo.calls).toHaveLength(1);
    expect(repo.calls[0]!.counters).toEqual({
      1: { checks: 3, lastCheckAt: 3_000, lastIp: '10.0.0.3' },
      2: { checks: 1, lastCheckAt: 500, lastIp: '10.0.0.9' },
    });
  });

  it('counts log=false checks without writing a row for them', async () => {
    const wb = make();
    wb.record(entry({ licenseId: 4, time: 10, ip: '4.4.4.4' }), false);
    wb.record(entry({ licenseId: 4, time: 20, ip: '4.4.4.5' }), false);
    expect(wb.queued).toBe(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(repo.calls).toEqual([{ rows: [], counters: { 4: { checks: 2, lastCheckAt: 20, lastIp: '4.4.4.5' } } }]);
  });

  it('queues nothing for an unlogged check of an unknown key', async () => {
    const wb = make();
    wb.record(entry({ licenseId: null, status: 'NOT FOUND' }), false);
    expect(wb.queued).toBe(0);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(repo.calls).toEqual([]);
  });

  it('starts a new batch for records that arrive after a write', async () => {
    const wb = make();
    wb.record(entry({ info: 'first' }), true);
    await vi.advanceTimersByTimeAsync(100);
    wb.record(entry({ info: 'second' }), true);
    await vi.advanceTimersByTimeAsync(100);
    expect(repo.calls.map((c) => c.rows.map((r) => r.info))).toEqual([['first'], ['second']]);
    expect(repo.calls.map((c) => c.counters[1]?.checks)).toEqual([1, 1]);
  });

  it('writes a full batch at once when the first record fills it', async () => {
    const wb = make({ flushMs: 200, batchSize: 1 });
    wb.record(entry(), true);
    await vi.advanceTimersByTimeAsync(0);
    expect(repo.calls).toHaveLength(1);
  });

  // Regression guard, was a bug (write-behind.ts, record/schedule): the timer set by the first record makes schedule(0)
  // return early, so reaching batchSize never writes "at once" as the option promises; the full
  // batch waits for flushMs like any other (here: nothing written at 0 ms, all 3 rows at 200 ms).
  it('writes a batch at once when it reaches batchSize', async () => {
    const wb = make({ flushMs: 200, batchSize: 3 });
    for (let i = 0; i < 3; i++) wb.record(entry({ info: String(i) }), true);
    await vi.advanceTimersByTimeAsync(1);
    expect(repo.calls).toHaveLength(1);
    expect(repo.calls[0]!.rows).toHaveLength(3);
  });

  // Under load a whole burst of reads is answered before the due write runs: those records join
  // it without re-arming its timer per record (that cost ~2% of a check in the profile).
  it('records that arrive after a batch is full join the write already due, with one timer', async () => {
    const wb = make({ flushMs: 200, batchSize: 3 });
    const timers = vi.spyOn(globalThis, 'setTimeout');
    for (let i = 0; i < 10; i++) wb.record(entry({ info: String(i) }), true);
    expect(timers).toHaveBeenCalledTimes(2); // the flushMs timer of the first record, then the one due at once
    await vi.advanceTimersByTimeAsync(0);
    expect(repo.calls).toHaveLength(1);
    expect(repo.calls[0]!.rows.map((r) => r.info)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    timers.mockRestore();
  });

  it('retries a failed batch by itself after a back-off, without losing or doubling anything', async () => {
    const wb = make();
    repo.failNext = 1;
    wb.record(entry({ info: 'x', time: 1 }), true);
    wb.record(entry({ info: 'y', time: 2 }), true);
    await vi.advanceTimersByTimeAsync(100);
    expect(repo.calls).toHaveLength(1);
    expect(errors).toHaveLength(1);
    expect(wb.queued).toBe(3);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(repo.calls).toHaveLength(2);
    expect(repo.committedRows.map((r) => r.info)).toEqual(['x', 'y']);
    expect(repo.committedCounters.get(1)).toEqual({ checks: 2, lastCheckAt: 2, lastIp: '1.1.1.1' });
    expect(wb.queued).toBe(0);
  });

  it('close() gives up after repeated failures instead of hanging, and leaves no timer behind', async () => {
    const wb = make();
    repo.failNext = Number.POSITIVE_INFINITY;
    wb.record(entry(), true);
    let closed = false;
    const closing = wb.close().then(() => (closed = true));
    await vi.advanceTimersByTimeAsync(60_000);
    await closing;
    expect(closed).toBe(true);
    expect(repo.calls.length).toBeGreaterThan(1);
    expect(wb.queued).toBe(2);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('WriteBehind: a row the database refuses for its data', () => {
  const poisoned = (r: AuthLogInsert) => r.info?.includes('\u0000') ?? false;

  it('sets aside only that row: every other row lands once, in order, and every check is counted', async () => {
    const flushed: number[] = [];
    const wb = make({ onFlush: (_s, rows) => flushed.push(rows) });
    repo.refuses = poisoned;
    const infos = ['0', '1', '2', 'bad\u0000', '4', '5', '6', 'bad2\u0000', '8', '9'];
    infos.forEach((info, i) => wb.record(entry({ info, time: i, licenseId: (i % 2) + 1 }), true));
    await wb.flush();
    expect(repo.committedRows.map((r) => r.info)).toEqual(['0', '1', '2', '4', '5', '6', '8', '9']);
    expect(refused.map((r) => r.info)).toEqual(['bad\u0000', 'bad2\u0000']);
    expect(repo.committedCounters.get(1)).toMatchObject({ checks: 5, lastCheckAt: 8 });
    expect(repo.committedCounters.get(2)).toMatchObject({ checks: 5, lastCheckAt: 9 });
    expect(errors).toEqual([]);
    expect(wb.queued).toBe(0);
    expect(flushed.reduce((a, b) => a + b, 0)).toBe(8); // metrics count the rows written in parts
    // The next batch is written as one again.
    const calls = repo.calls.length;
    wb.record(entry({ info: 'next' }), true);
    await wb.flush();
    expect(repo.calls.length).toBe(calls + 1);
  });

  it('keeps what is left for the retry when the database goes down half-way, writing nothing twice', async () => {
    const wb = make();
    repo.refuses = poisoned;
    ['a', 'b\u0000', 'c', 'd', 'e', 'f'].forEach((info, i) => wb.record(entry({ info, time: i }), true));
    // Calls: 1 the batch (refused), 2 the counters alone (land), 3 all rows (refused),
    // 4 rows a-c (refused), 5 row a: the database is down.
    repo.downOnCalls = new Set([5]);
    await wb.flush();
    expect(repo.calls.map((c) => c.rows.length)).toEqual([6, 0, 6, 3, 1]);
    expect(errors).toHaveLength(1);
    expect(repo.totalChecks).toBe(6);
    expect(repo.committedRows).toEqual([]);
    expect(wb.queued).toBe(6); // the six rows; their counters are already written
    await wb.flush();
    expect(repo.committedRows.map((r) => r.info)).toEqual(['a', 'c', 'd', 'e', 'f']);
    expect(refused.map((r) => r.info)).toEqual(['b\u0000']);
    expect(repo.totalChecks).toBe(6);
    expect(wb.queued).toBe(0);
  });

  it('retries the whole batch, setting nothing aside, when the database is down rather than refusing', async () => {
    const wb = make();
    repo.failNext = 1;
    wb.record(entry({ info: 'x' }), true);
    await wb.flush();
    expect(refused).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(wb.queued).toBe(2);
    await wb.flush();
    expect(repo.committedRows.map((r) => r.info)).toEqual(['x']);
  });
});

describe('WriteBehind: flush and close (real timers)', () => {
  it('flush() resolves only once the data is written', async () => {
    const wb = make({ flushMs: 10_000 });
    wb.record(entry({ info: 'a' }), true);
    repo.hold();
    let done = false;
    const flushing = wb.flush().then(() => (done = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(repo.calls).toHaveLength(1);
    expect(done).toBe(false);
    repo.release();
    await flushing;
    expect(done).toBe(true);
    expect(repo.committedRows.map((r) => r.info)).toEqual(['a']);
    expect(wb.queued).toBe(0);
  });

  it('flush() with nothing queued resolves without writing', async () => {
    const wb = make();
    await wb.flush();
    expect(repo.calls).toEqual([]);
  });

  it('flush() during a write waits for it, then writes what arrived meanwhile', async () => {
    const wb = make({ flushMs: 10_000 });
    wb.record(entry({ info: 'a', time: 1 }), true);
    repo.hold();
    const first = wb.flush();
    wb.record(entry({ info: 'b', time: 2 }), true);
    const second = wb.flush();
    repo.release();
    await Promise.all([first, second]);
    expect(repo.calls.map((c) => c.rows.map((r) => r.info))).toEqual([['a'], ['b']]);
    expect(repo.committedCounters.get(1)?.checks).toBe(2);
    await wb.close();
  });

  it('requeues everything from a failed write, ahead of newer records, and a later flush writes it once', async () => {
    const wb = make({ flushMs: 10_000 });
    wb.record(entry({ info: 'a', licenseId: 1, time: 10, ip: '1.0.0.1' }), true);
    wb.record(entry({ info: 'b', licenseId: 2, time: 20, ip: '2.0.0.1' }), false);
    repo.hold();
    const failing = wb.flush();
    // Arrives while the doomed write is in flight.
    wb.record(entry({ info: 'c', licenseId: 1, time: 30, ip: '1.0.0.3' }), true);
    wb.record(entry({ info: 'd', licenseId: 2, time: 15, ip: '2.0.0.0' }), true);
    repo.release(false);
    await failing;
    expect(errors).toHaveLength(1);
    expect((errors[0]!.err as Error).message).toBe('db down (held)');
    expect(errors[0]!.dropped).toBe(0);
    expect(repo.committedRows).toEqual([]);

    await wb.flush();
    expect(repo.committedRows.map((r) => r.info)).toEqual(['a', 'c', 'd']);
    expect(Object.fromEntries(repo.committedCounters)).toEqual({
      1: { checks: 2, lastCheckAt: 30, lastIp: '1.0.0.3' },
      2: { checks: 2, lastCheckAt: 20, lastIp: '2.0.0.1' },
    });
    expect(wb.queued).toBe(0);
    await wb.close();
    expect(repo.calls).toHaveLength(2);
  });

  it('survives several failures in a row without losing or doubling counts', async () => {
    const wb = make({ flushMs: 10_000 });
    repo.failNext = 3;
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 5; i++) wb.record(entry({ licenseId: i % 2 ? 1 : 2, time: round * 10 + i, info: `${round}.${i}` }), true);
      await wb.flush();
    }
    expect(errors).toHaveLength(3);
    expect(repo.committedRows).toHaveLength(20);
    expect(new Set(repo.committedRows.map((r) => r.info)).size).toBe(20);
    expect(repo.totalChecks).toBe(20);
    expect(repo.committedCounters.get(1)?.checks).toBe(8);
    expect(repo.committedCounters.get(2)?.checks).toBe(12);
    await wb.close();
  });

  it('close() writes everything still queued', async () => {
    const wb = make({ flushMs: 10_000 });
    for (let i = 0; i < 7; i++) wb.record(entry({ info: String(i), licenseId: i < 4 ? 1 : null }), true);
    await wb.close();
    expect(repo.committedRows.map((r) => r.info)).toEqual(['0', '1', '2', '3', '4', '5', '6']);
    expect(repo.committedCounters.get(1)?.checks).toBe(4);
    expect(wb.queued).toBe(0);
  });

  it('close() retries through a short outage', async () => {
    const wb = make({ flushMs: 10_000 });
    repo.failNext = 2;
    wb.record(entry({ info: 'z' }), true);
    await wb.close();
    expect(repo.committedRows.map((r) => r.info)).toEqual(['z']);
    expect(repo.committedCounters.get(1)?.checks).toBe(1);
    expect(errors).toHaveLength(2);
    expect(wb.queued).toBe(0);
  });

  it('keeps at most maxQueuedRows rows while the database fails, dropping the oldest and saying how many', async () => {
    const wb = make({ flushMs: 10_000, maxQueuedRows: 3 });
    repo.failNext = 1;
    for (let i = 0; i < 5; i++) wb.record(entry({ info: `r${i}`, time: i }), true);
    await wb.flush();
    expect(errors.map((e) => e.dropped)).toEqual([2]);
    await wb.flush();
    expect(repo.committedRows.map((r) => r.info)).toEqual(['r2', 'r3', 'r4']);
    // Counters are not log rows: every check still counts.
    expect(repo.committedCounters.get(1)).toEqual({ checks: 5, lastCheckAt: 4, lastIp: '1.1.1.1' });
    await wb.close();
  });

  it('counts rows that arrived during the failed write against maxQueuedRows too', async () => {
    const wb = make({ flushMs: 10_000, maxQueuedRows: 2 });
    wb.record(entry({ info: 'old1' }), true);
    wb.record(entry({ info: 'old2' }), true);
    repo.hold();
    const failing = wb.flush();
    wb.record(entry({ info: 'new1' }), true);
    repo.release(false);
    await failing;
    expect(errors.map((e) => e.dropped)).toEqual([1]);
    await wb.flush();
    expect(repo.committedRows.map((r) => r.info)).toEqual(['old2', 'new1']);
    await wb.close();
  });
});
