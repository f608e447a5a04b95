/** Shows how far a long command is: a bar on a terminal, a plain line every few seconds otherwise. */
export interface Progress {
  update(phase: string, done: number, total: number): void;
  stop(): void;
}

const LINE_EVERY_MS = 2000;

/**
 * Progress goes to stderr, so stdout keeps only the command's result (one JSON document with
 * `--json`). On a terminal it is a cli-progress bar; otherwise one line per phase start, at most
 * one every 2 s, and one at each phase's end.
 */
export async function createProgress(unit: string, opts: { quiet?: boolean } = {}): Promise<Progress> {
  if (opts.quiet) return { update: () => {}, stop: () => {} };
  if (process.stderr.isTTY) {
    const { default: cliProgress } = await import('cli-progress');
    let bar: InstanceType<typeof cliProgress.SingleBar> | null = null;
    let current = '';
    return {
      update(phase, done, total) {
        if (phase !== current) {
          bar?.stop();
          current = phase;
          bar = new cliProgress.SingleBar(
            {
              stream: process.stderr,
              format: `${phase.padEnd(10)} [{bar}] {percentage}% | {value}/{total} ${unit} | {duration_formatted}`,
              hideCursor: true,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(total, done);
        } else {
          bar?.setTotal(total);
          bar?.update(done);
        }
      },
      stop() {
        bar?.stop();
        bar = null;
      },
    };
  }
  let current = '';
  let last = 0;
  return {
    update(phase, done, total) {
      const now = Date.now();
      const finished = done >= total;
      if (phase === current && !finished && now - last < LINE_EVERY_MS) return;
      if (phase === current && finished && last === -1) return;
      current = phase;
      last = finished ? -1 : now;
      const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
      process.stderr.write(`${phase}: ${done}/${total} ${unit} (${pct}%)\n`);
    },
    stop() {},
  };
}
