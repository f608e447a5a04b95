import type { Logger } from 'pino';
import type { MachineService } from './machine-service.js';

export interface HeartbeatSweepOptions {
  /** Time between sweeps. */
  intervalMs?: number;
  /** Machines freed per sweep at most; a full sweep runs again soon after. */
  batchSize?: number;
  /**
   * How long past its heartbeat a machine is left before it is freed: sightings other instances
   * hold are written within LOG_FLUSH_MS, so a machine alive elsewhere is never freed by mistake.
   */
  graceMs?: number;
  /** Writes this process's queued sightings before each sweep (the write-behind's flush). */
  flushSightings?: () => Promise<void>;
  logger?: Pick<Logger, 'error' | 'info'>;
  now?: () => number;
}

/**
 * Frees machines whose policy heartbeat passed without them being seen (docs/machines.md), with
 * no one acting: every instance sweeps now and then, in bounded batches, and each machine is freed
 * (and `machine.dead` sent) once, by whichever instance gets to it first.
 */
export class HeartbeatSweep {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;
  private stopped = false;
  private readonly intervalMs: number;
  private readonly batchSize: number;
  private readonly now: () => number;

  constructor(
    private readonly machines: Pick<MachineService, 'sweepDead' | 'purgeDeactivations'>,
    private readonly options: HeartbeatSweepOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 10_000;
    this.batchSize = options.batchSize ?? 500;
    this.now = options.now ?? Date.now;
  }

  start(): void {
    if (this.stopped || this.timer) return;
    this.schedule(this.intervalMs);
  }

  /** One sweep now (concurrent calls share it); returns how many machines it freed. */
  runOnce(): Promise<number> {
    this.running ??= this.sweep().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => {});
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.runOnce().then(
        (freed) => this.schedule(freed >= this.batchSize ? 100 : this.intervalMs),
        (err: unknown) => {
          this.options.logger?.error({ err }, 'freeing dead machines failed; will retry');
          this.schedule(this.intervalMs);
        },
      );
    }, delay);
    this.timer.unref();
  }

  private async sweep(): Promise<number> {
    await this.options.flushSightings?.();
    const now = this.now();
    const freed = await this.machines.sweepDead(now, { limit: this.batchSize, graceMs: this.options.graceMs ?? 2000 });
    await this.machines.purgeDeactivations(now);
    if (freed > 0) this.options.logger?.info({ freed }, 'freed machines whose heartbeat passed');
    return freed;
  }
}
