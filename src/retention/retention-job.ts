import type { Logger } from 'pino';
import { DAY_MS, type RetentionRepository } from '../storage/retention-repository.js';
import { PeriodicJob } from '../periodic-job.js';

export interface RetentionOptions {
  /** AUTH_LOG_RETENTION_DAYS: keep this many whole UTC days of Previous Auths; 0 keeps them forever. */
  retentionDays: number;
  /** Rows moved per transaction: small, so no check or log write waits long for the database. */
  batchSize?: number;
  /** Pause between batches, giving the server's own writes room. */
  pauseMs?: number;
  /** Time between runs. */
  intervalMs?: number;
  /** Delay before the first run, so start-up stays quick. */
  firstRunMs?: number;
  logger?: Pick<Logger, 'info' | 'error'>;
  now?: () => number;
}

/**
 * The background job behind AUTH_LOG_RETENTION_DAYS: now and then, moves Previous Auths older
 * than the retention into the daily counts, in small batches until none are left.
 */
export class RetentionJob {
  private readonly job: PeriodicJob<{ pruned: number; cutoff: number }>;
  private readonly batchSize: number;
  private readonly pauseMs: number;
  private readonly now: () => number;

  constructor(
    private readonly repo: RetentionRepository,
    private readonly options: RetentionOptions,
  ) {
    this.batchSize = options.batchSize ?? 1000;
    this.pauseMs = options.pauseMs ?? 20;
    this.now = options.now ?? Date.now;
    this.job = new PeriodicJob(
      () => this.prune(),
      (outcome) => {
        if ('error' in outcome) this.options.logger?.error({ err: outcome.error }, 'pruning old Previous Auths failed; will retry');
        else if (outcome.result.pruned > 0) {
          this.options.logger?.info({ pruned: outcome.result.pruned, before: new Date(outcome.result.cutoff).toISOString() }, 'moved old Previous Auths into the daily counts');
        }
        return this.options.intervalMs ?? 3_600_000;
      },
    );
  }

  get enabled(): boolean {
    return this.options.retentionDays > 0;
  }

  /** The first moment still kept: midnight UTC, `retentionDays` days before today. */
  cutoff(): number {
    return (Math.floor(this.now() / DAY_MS) - this.options.retentionDays) * DAY_MS;
  }

  start(): void {
    if (this.enabled) this.job.start(this.options.firstRunMs ?? 60_000);
  }

  /** Prunes everything older than the retention now; concurrent calls share one run. */
  runOnce(): Promise<{ pruned: number; cutoff: number }> {
    return this.job.runOnce();
  }

  /** Stops the schedule and waits for a batch in progress; what is left is pruned next time. */
  stop(): Promise<void> {
    return this.job.stop();
  }

  private async prune(): Promise<{ pruned: number; cutoff: number }> {
    const cutoff = this.cutoff();
    let pruned = 0;
    if (!this.enabled) return { pruned, cutoff };
    for (;;) {
      const n = await this.repo.pruneBatch(cutoff, this.batchSize);
      pruned += n;
      if (n < this.batchSize || this.job.isStopped) break;
      await new Promise((r) => setTimeout(r, this.pauseMs));
    }
    return { pruned, cutoff };
  }
}
