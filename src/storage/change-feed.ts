import type BetterSqlite3 from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import type pg from 'pg';

const CHANNEL = 'keyward_changes';
const SQLITE_POLL_MS = 200;

/** What a change touched; each cache listens to the topics it holds. */
export const TOPICS = ['licenses', 'products', 'tokens', 'signing-keys', 'webhooks', 'users'] as const;
export type Topic = (typeof TOPICS)[number];

/**
 * Tells this process that licenses, products or users changed, wherever the change was made:
 * in this process (`announce`), in another process on the same SQLite file (PRAGMA data_version
 * moves when another connection commits), or on another instance of the same PostgreSQL
 * database (LISTEN/NOTIFY). Listeners drop whatever they cached.
 */
export class ChangeFeed {
  private readonly listeners = new Set<{ topics: ReadonlySet<Topic>; listener: (topic: Topic) => void }>();
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

  /** Calls `listener` when any of `topics` changed (once per topic changed). */
  onChange(topics: Topic | readonly Topic[], listener: (topic: Topic) => void): () => void {
    const entry = { topics: new Set(typeof topics === 'string' ? [topics] : topics), listener };
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }

  /** Starts watching for changes made by other processes (the server does; one-shot CLI runs need not). */
  async watch(): Promise<void> {
    if (!this.stopWatching) this.stopWatching = await this.startWatch(() => this.emit());
  }

  /** Call after committing a change to these topics. */
  async announce(...topics: Topic[]): Promise<void> {
    for (const topic of new Set(topics)) this.emit(topic);
    await this.notifyOthers();
  }

  async stop(): Promise<void> {
    const stop = this.stopWatching;
    this.stopWatching = null;
    await stop?.();
  }

  private emit(topic?: Topic): void {
    for (const { topics, listener } of this.listeners) {
      if (topic === undefined) for (const t of topics) listener(t);
      else if (topics.has(topic)) listener(topic);
    }
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
