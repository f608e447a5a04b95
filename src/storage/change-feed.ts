import type { Kysely } from 'kysely';
import type pg from 'pg';
import { PostgresChangeNotify } from './change-feed-postgres.js';
import { SqliteChangeVersions } from './change-feed-sqlite.js';
import type { Database } from './schema.js';

/** What a change touched; each cache listens to the topics it holds. */
export const TOPICS = ['licenses', 'products', 'tokens', 'signing-keys', 'webhooks', 'users', 'policies', 'machines'] as const;
export type Topic = (typeof TOPICS)[number];

const KNOWN = new Set<string>(TOPICS);

/** What recording a change returned (SQLite: the versions it bumped its topics to), for `announceLocally`. */
export type Recorded = ReadonlyMap<Topic, number> | undefined;

/** How changes travel between processes sharing one database. */
export interface ChangeTransport {
  /**
   * Records a change to `topics` through `db`: a transaction (other processes hear of it when, and
   * only if, it commits) or the database itself (a statement of its own).
   */
  record(db: Kysely<Database>, topics: readonly Topic[]): Promise<Recorded>;
  /** Tells `heard` of other processes' changes (null: anything may have changed) until stopped. */
  watch(heard: (topics: readonly string[] | null) => void): Promise<() => Promise<void>>;
  /** This process already acted on the change it recorded: it need not hear of it again. */
  own?(recorded: Recorded): void;
}

/**
 * Tells this process which topics changed, wherever the change was made: in this process, in
 * another process on the same SQLite file (version rows), or on another instance of the same
 * PostgreSQL database (NOTIFY). Listeners drop what they cached of those topics only.
 */
export class ChangeFeed {
  private readonly listeners = new Set<{ topics: ReadonlySet<Topic>; listener: (topic: Topic) => void }>();
  private stopWatching: (() => Promise<void>) | null = null;

  private constructor(
    private readonly db: Kysely<Database>,
    private readonly transport: ChangeTransport,
  ) {}

  static forSqlite(db: Kysely<Database>): ChangeFeed {
    return new ChangeFeed(db, new SqliteChangeVersions(db));
  }

  static forPostgres(connectionString: string, db: Kysely<Database>, driver: typeof pg): ChangeFeed {
    return new ChangeFeed(db, new PostgresChangeNotify(connectionString, driver));
  }

  /** Calls `listener` when any of `topics` changed (once per topic changed). */
  onChange(topics: Topic | readonly Topic[], listener: (topic: Topic) => void): () => void {
    const entry = { topics: new Set(typeof topics === 'string' ? [topics] : topics), listener };
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }

  /** Starts watching for changes made by other processes (the server does; one-shot CLI runs need not). */
  async watch(): Promise<void> {
    if (!this.stopWatching) this.stopWatching = await this.transport.watch((names) => this.emit(known(names)));
  }

  /**
   * Within a change's transaction: records the change so other processes hear of it once it
   * commits. After the transaction, pass what this returned to `announceLocally`.
   */
  async record(trx: Kysely<Database>, topics: readonly Topic[]): Promise<Recorded> {
    return topics.length ? this.transport.record(trx, [...new Set(topics)]) : undefined;
  }

  /** Tells this process's listeners of a change recorded in a transaction (`recorded`: what `record` returned, once committed). */
  announceLocally(topics: readonly Topic[], recorded?: Recorded): void {
    if (recorded) this.transport.own?.(recorded);
    this.emit(new Set(topics));
  }

  /** Call after committing a change to these topics made outside a transaction: tells this process and the others. */
  async announce(...topics: Topic[]): Promise<void> {
    this.emit(new Set(topics));
    const recorded = await this.record(this.db, topics);
    if (recorded) this.transport.own?.(recorded);
  }

  async stop(): Promise<void> {
    const stop = this.stopWatching;
    this.stopWatching = null;
    await stop?.();
  }

  private emit(topics: ReadonlySet<Topic>): void {
    for (const { topics: wanted, listener } of this.listeners) {
      for (const topic of topics) if (wanted.has(topic)) listener(topic);
    }
  }
}

/** The topics named; null, or a name this version does not know (a newer Keyward's), counts as every topic. */
function known(names: readonly string[] | null): ReadonlySet<Topic> {
  if (names === null || names.length === 0 || names.some((n) => !KNOWN.has(n))) return new Set(TOPICS);
  return new Set(names as Topic[]);
}
