import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type BetterSqlite3 from 'better-sqlite3';

export interface CheckpointerOptions {
  /** How often the worker copies the WAL into the database file. */
  intervalMs?: number;
  onError?: (err: Error) => void;
}

/** SQLite's own default: a commit that leaves this many WAL pages checkpoints them itself. */
const AUTOCHECKPOINT_PAGES = 1000;

// Runs in the worker: its own connection to the same file, checkpointing on a timer. PASSIVE
// never waits for (or blocks) the server's reads and writes; what it cannot copy yet, it copies
// next time. Plain CommonJS, so it runs the same from src/ (tests) and dist/.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 1000');
const checkpoint = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    parentPort.postMessage({ error: err && err.message ? err.message : String(err) });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
`;

/**
 * Moves SQLite's WAL checkpoints off the event loop. By default the commit that fills the WAL
 * copies it into the database file and syncs it to disk, on the thread that committed: for the
 * server that is a check held up for tens of milliseconds every second or so under load (the
 * benchmark's p99). The server's connection stops checkpointing and a worker thread with its own
 * connection does it instead. Should the worker fail, the connection checkpoints itself again,
 * so the WAL never grows without bound.
 */
export class SqliteCheckpointer {
  private readonly exited: Promise<void>;
  private stopped = false;

  private constructor(
    private readonly sqlite: BetterSqlite3.Database,
    private readonly worker: Worker,
    onError: (err: Error) => void,
  ) {
    const fallBack = (err: Error) => {
      if (this.stopped) return;
      this.stopped = true;
      this.restore();
      onError(err);
    };
    worker.on('message', (m: { error?: string }) => {
      if (m?.error) onError(new Error(`background WAL checkpoint failed: ${m.error}`));
    });
    worker.on('error', (err) => fallBack(err));
    this.exited = new Promise((resolve) =>
      worker.once('exit', (code) => {
        fallBack(new Error(`the WAL checkpoint worker exited (code ${code})`));
        resolve();
      }),
    );
  }

  static start(sqlite: BetterSqlite3.Database, file: string, options: CheckpointerOptions = {}): SqliteCheckpointer {
    const worker = new Worker(WORKER, {
      eval: true,
      workerData: { file, intervalMs: options.intervalMs ?? 500, driver: createRequire(import.meta.url).resolve('better-sqlite3') },
      // It needs a connection and a timer, not a full-size heap.
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
    });
    sqlite.pragma('wal_autocheckpoint = 0');
    return new SqliteCheckpointer(sqlite, worker, options.onError ?? (() => {}));
  }

  /** Checkpoints once more, ends the worker and gives checkpoints back to the connection. */
  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.worker.postMessage('stop');
      this.restore();
    }
    const stuck = setTimeout(() => void this.worker.terminate(), 5000);
    await this.exited;
    clearTimeout(stuck);
  }

  private restore(): void {
    if (this.sqlite.open) this.sqlite.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
  }
}
