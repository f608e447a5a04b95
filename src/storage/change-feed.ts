import type BetterSqlite3 from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import type pg from 'pg';

const CHANNEL = 'keyward_changes';
const SQLITE_POLL_MS = 200;

/**
 * Tells this process that licenses, products or users changed, wherever the change was made:
 * in this process (`announce`), in another process on the same SQLite file (PRAGMA data_version
 * moves when another connection commits), or on another instance of the same PostgreSQL
 * database (LISTEN/NOTIFY). Listeners drop whatever they cached.
 */
export class ChangeFeed {
  private readonly listeners = new Set<() => void>();
  private stopWatching: (() => Promise<void>) | null = null;

  private constructor(
    private readonly startWatch: (emit: () => void) => Promise<() => Promise<void>>,
    private readonly notifyOthers: () => Promise<void>,
  ) {}

  static forSqlite(sqlite: BetterSqlite3.Database): ChangeFeed {
    return new ChangeFeed(
      async (emit) => {
        let version = sqlite.pragma('data_version', { simple: true });
        const timer = setInterval(() => {
          if (!sqlite.open) return;
          const now = sqlite.pragma('data_version', { simple: true });
          if (now !== version) {
            version = now;
            emit();
          }
        }, SQLITE_POLL_MS);
        timer.unref();
        return async () => clearInterval(timer);
      },
      // Other processes see our commits through data_version; nothing to send.
      async () => {},
    );
  }

  static forPostgres(connectionString: string, db: Kysely<any>, driver: typeof pg): ChangeFeed {
    return new ChangeFeed(
      (emit) => listenPostgres(connectionString, emit, driver),
      async () => {
        await sql`select pg_notify(${CHANNEL}, '')`.execute(db);
      },
    );
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts watching for changes made by other processes (the server does; one-shot CLI runs need not). */
  async watch(): Promise<void> {
    if (!this.stopWatching) this.stopWatching = await this.startWatch(() => this.emit());
  }

  /** Call after committing a change to licenses, products or users. */
  async announce(): Promise<void> {
    this.emit();
    await this.notifyOthers();
  }

  async stop(): Promise<void> {
    const stop = this.stopWatching;
    this.stopWatching = null;
    await stop?.();
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }
}

/** Keeps one LISTEN connection open, reconnecting after a loss (and treating the gap as a change). */
async function listenPostgres(connectionString: string, emit: () => void, driver: typeof pg): Promise<() => Promise<void>> {
  let stopped = false;
  let client: pg.Client | null = null;
  let retry: NodeJS.Timeout | null = null;

  const connect = async (): Promise<void> => {
    const c = new driver.Client({ connectionString });
    c.on('notification', () => emit());
    c.on('error', () => reconnect(c));
    c.on('end', () => reconnect(c));
    await c.connect();
    await c.query(`LISTEN ${CHANNEL}`);
    client = c;
  };
  const reconnect = (c: pg.Client): void => {
    if (stopped || client !== c) return;
    client = null;
    c.end().catch(() => {});
    emit();
    const attempt = (): void => {
      retry = null;
      if (stopped) return;
      connect().then(emit, () => {
        retry = setTimeout(attempt, 500);
        retry.unref();
      });
    };
    retry = setTimeout(attempt, 100);
    retry.unref();
  };

  await connect();
  return async () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    const c = client;
    client = null;
    await c?.end().catch(() => {});
  };
}
