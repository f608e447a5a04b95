/**
 * A background job run now and then (pruning Previous Auths, freeing dead machines): one run at a
 * time, concurrent callers of `runOnce` share it, and nothing is scheduled after `stop`. After each
 * scheduled run, `after` is told its result (or its error) and says how long to wait for the next.
 */
export class PeriodicJob<T> {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<T> | null = null;
  private stopped = false;

  constructor(
    private readonly work: () => Promise<T>,
    private readonly after: (outcome: { result: T } | { error: unknown }) => number,
  ) {}

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Schedules the first run `delay` ms from now (once; never after stop). */
  start(delay: number): void {
    if (this.stopped || this.timer) return;
    this.schedule(delay);
  }

  /** Runs the job now; concurrent calls share one run. */
  runOnce(): Promise<T> {
    this.running ??= this.work().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** Stops the schedule and waits for a run in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => {});
  }

  private schedule(delay: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      this.runOnce().then(
        (result) => this.next(this.after({ result })),
        (error: unknown) => this.next(this.after({ error })),
      );
    }, delay);
    this.timer.unref();
  }

  private next(delay: number): void {
    if (!this.stopped) this.schedule(delay);
  }
}
