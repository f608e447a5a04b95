import type { Logger } from 'pino';
import { PeriodicJob } from '../periodic-job.js';
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
  private readonly job: PeriodicJob<number>;
  private readonly intervalMs: number;
  private readonly batchSize: number;
  private readonly now: () => number;

  constructor(
    private readonly machines: Pick<MachineService, 'sweepDead' | 'releaseEndedHolds' | 'purgeDeactivations'>,
    private readonly options: HeartbeatSweepOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 10_000;
    this.batchSize = options.batchSize ?? 500;
    this.now = options.now ?? Date.now;
    this.job = new PeriodicJob(
      () => this.sweep(),
      (outcome) => {
        if ('error' in outcome) {
          this.options.logger?.error({ err: outcome.error }, 'freeing dead machines failed; will retry');
          return this.intervalMs;
        }
        // A full batch means more are waiting: the next sweep comes soon.
        return outcome.result >= this.batchSize ? 100 : this.intervalMs;
      },
    );
  }

  start(): void {
    this.job.start(this.intervalMs);
  }

  /** One sweep now (concurrent calls share it); returns how many machines it freed or released. */
  runOnce(): Promise<number> {
    return this.job.runOnce();
  }

  stop(): Promise<void> {
    return this.job.stop();
  }

  private async sweep(): Promise<number> {
    await this.options.flushSightings?.();
    const now = this.now();
    const freed = await this.machines.sweepDead(now, { limit: this.batchSize, graceMs: this.options.graceMs ?? 2000 });
    const released = await this.machines.releaseEndedHolds(now, this.batchSize);
    await this.machines.purgeDeactivations(now);
    if (freed > 0) this.options.logger?.info({ freed }, 'freed machines whose heartbeat passed');
    // Machines freed earlier whose license file has now ended give their slot back too.
    return freed + released;
  }
}
