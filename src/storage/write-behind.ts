import type { CheckRecord, CheckRecorder } from '../licensing/check-license.js';
import type { AuthLogRepository, CounterDelta, MachineSighting } from './auth-log-repository.js';
import { isDataError } from './database.js';
import type { AuthLogInsert } from './schema.js';

export interface WriteBehindOptions {
  /** How long the first queued record waits before its batch is written (≤ 250 ms by contract). */
  flushMs: number;
  /** A batch this large is written at once instead of waiting for the timer. */
  batchSize?: number;
  /** While the database refuses writes, keep at most this many log rows (oldest dropped first). */
  maxQueuedRows?: number;
  onError?: (err: unknown, dropped: number) => void;
  /** Told of a Previous Auths row the database refused on its own (for its data): it is set aside. */
  onRefused?: (err: unknown, row: AuthLogInsert) => void;
  /** Told how long each successful batch took and how many log rows it wrote. */
  onFlush?: (seconds: number, rows: number) => void;
}

/**
 * Rows that make a batch due at once. Small on purpose: SQLite writes on the event loop, and larger
 * batches, though cheaper per row, cost the p99 (SQLite) and RSS (PostgreSQL); docs/benchmarks.md.
 */
const BATCH_ROWS = 256;

/**
 * Takes Previous Auths rows and counter increments off the check's critical path and writes
 * them in batches: one transaction per batch, so a batch lands whole or is retried whole.
 */
export class WriteBehind implements CheckRecorder {
  private rows: AuthLogInsert[] = [];
  private counters = new Map<number, CounterDelta>();
  /** The newest sighting of each machine seen (coalesced per machine, never dropped by overflow). */
  private machines = new Map<number, MachineSighting>();
  private timer: NodeJS.Timeout | null = null;
  /** The pending timer writes at once (a full batch): later records need not touch it. */
  private timerImmediate = false;
  private flushing: Promise<void> | null = null;
  private readonly batchSize: number;
  private readonly maxQueuedRows: number;
  private failures = 0;
  /** When the oldest record still queued arrived: the next write is due flushMs after it. */
  private oldestAt = 0;

  constructor(
    private readonly repo: AuthLogRepository,
    private readonly options: WriteBehindOptions,
  ) {
    this.batchSize = options.batchSize ?? BATCH_ROWS;
    this.maxQueuedRows = options.maxQueuedRows ?? 200_000;
  }

  record(entry: CheckRecord, log: boolean): void {
    if (this.queued === 0) this.oldestAt = Date.now();
    if (log) {
      this.rows.push({
        time: entry.time,
        license_id: entry.licenseId,
        product_id: entry.productId,
        ip: entry.ip,
        status: entry.status,
        info: entry.info,
        user_agent: entry.userAgent,
        endpoint: entry.endpoint ?? null,
      });
    }
    if (entry.machineId) {
      const seen = this.machines.get(entry.machineId);
      if (!seen) this.machines.set(entry.machineId, { at: entry.time, ip: entry.ip });
      else if (entry.time >= seen.at) {
        seen.at = entry.time;
        seen.ip = entry.ip;
      }
    }
    if (entry.licenseId !== null) {
      const delta = this.counters.get(entry.licenseId);
      if (delta) {
        delta.checks++;
        if (entry.time >= delta.lastCheckAt) {
          delta.lastCheckAt = entry.time;
          delta.lastIp = entry.ip;
        }
      } else {
        this.counters.set(entry.licenseId, { checks: 1, lastCheckAt: entry.time, lastIp: entry.ip });
      }
    }
    this.schedule(this.rows.length >= this.batchSize ? 0 : this.options.flushMs);
  }

  /** Records waiting to be written (log rows plus licenses with pending counters and machines with pending sightings). */
  get queued(): number {
    return this.rows.length + this.counters.size + this.machines.size;
  }

  /** Writes everything queued so far; resolves when it is in the database. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.flushing) await this.flushing;
    if (this.queued === 0) return;
    this.flushing = this.writeOnce().finally(() => {
      this.flushing = null;
      // Pick up what arrived meanwhile; back off while the database is failing.
      if (this.queued > 0) {
        const due = Math.max(0, this.options.flushMs - (Date.now() - this.oldestAt));
        this.schedule(this.failures ? Math.min(5000, 100 * 2 ** this.failures) : due);
      }
    });
    await this.flushing;
  }

  /** Flushes until empty; gives up (and says how much) only after repeated database failures. */
  async close(): Promise<void> {
    for (let attempt = 0; this.queued > 0 && attempt < 20; attempt++) {
      await this.flush();
      if (this.queued > 0) await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(delay: number): void {
    if (this.flushing) return;
    if (this.timer) {
      // A full batch does not wait for the timer that its first record started; once a write is
      // due at once, the records that arrive before it runs (a whole burst of reads) leave it be.
      if (delay > 0 || this.timerImmediate) return;
      clearTimeout(this.timer);
    }
    this.timerImmediate = delay === 0;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush().catch(() => {});
    }, delay);
  }

  private async writeOnce(): Promise<void> {
    const rows = this.rows;
    const counters = this.counters;
    const machines = this.machines;
    this.rows = [];
    this.counters = new Map();
    this.machines = new Map();
    // Whatever arrives from now on is the next batch; it is due flushMs after its first record.
    this.oldestAt = Date.now();
    try {
      await this.write(rows, counters, machines);
      this.failures = 0;
    } catch (batchError) {
      let err = batchError;
      let left = { rows, counters, machines };
      if (isDataError(err)) {
        const salvaged = await this.salvage(rows, counters, machines);
        if (!salvaged) {
          this.failures = 0;
          return;
        }
        ({ err, ...left } = salvaged);
      }
      this.requeue(left.rows, left.counters, left.machines);
      this.failures++;
      const overflow = Math.max(0, this.rows.length - this.maxQueuedRows);
      if (overflow > 0) this.rows.splice(0, overflow);
      this.options.onError?.(err, overflow);
    }
  }

  /** One batch write, timed for onFlush. */
  private async write(rows: AuthLogInsert[], counters: Map<number, CounterDelta>, machines: Map<number, MachineSighting> = new Map()): Promise<void> {
    const started = performance.now();
    await this.repo.writeBatch(rows, counters, machines);
    this.options.onFlush?.((performance.now() - started) / 1000, rows.length);
  }

  /**
   * The database refused a batch for what is in it, not for being unreachable, and it would
   * refuse it again on every retry, holding up every check's log and counters. So the counters go
   * by themselves, then the rows in halves until each refused row stands alone; only those are set
   * aside (onRefused). Each part is its own transaction, and the failed batch landed nothing, so
   * nothing is written twice. Returns what is still unwritten when the database fails otherwise.
   */
  private async salvage(
    rows: AuthLogInsert[],
    counters: Map<number, CounterDelta>,
    machines: Map<number, MachineSighting>,
  ): Promise<{ err: unknown; rows: AuthLogInsert[]; counters: Map<number, CounterDelta>; machines: Map<number, MachineSighting> } | null> {
    let unwrittenCounters = counters;
    let unwrittenMachines = machines;
    // Parts still to write, the next one last; halves go back first half on top, so rows keep their order.
    const parts: AuthLogInsert[][] = rows.length ? [rows] : [];
    try {
      if (counters.size || machines.size) await this.repo.writeBatch([], counters, machines);
      unwrittenCounters = new Map();
      unwrittenMachines = new Map();
      while (parts.length) {
        const part = parts[parts.length - 1]!;
        try {
          await this.write(part, new Map());
          parts.pop();
        } catch (err) {
          if (!isDataError(err)) throw err;
          parts.pop();
          if (part.length === 1) this.options.onRefused?.(err, part[0]!);
          else parts.push(part.slice(part.length >> 1), part.slice(0, part.length >> 1));
        }
      }
      return null;
    } catch (err) {
      return { err, rows: parts.reverse().flat(), counters: unwrittenCounters, machines: unwrittenMachines };
    }
  }

  private requeue(rows: AuthLogInsert[], counters: Map<number, CounterDelta>, machines: Map<number, MachineSighting>): void {
    this.rows = rows.concat(this.rows);
    for (const [id, seen] of machines) {
      const newer = this.machines.get(id);
      if (!newer || newer.at < seen.at) this.machines.set(id, seen);
    }
    for (const [id, delta] of counters) {
      const newer = this.counters.get(id);
      if (!newer) this.counters.set(id, delta);
      else {
        newer.checks += delta.checks;
        if (delta.lastCheckAt > newer.lastCheckAt) {
          newer.lastCheckAt = delta.lastCheckAt;
          newer.lastIp = delta.lastIp;
        }
      }
    }
  }
}
