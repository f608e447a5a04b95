import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type SqliteDatabase } from 'kysely';
import { LRUCache } from 'lru-cache';
import { ChangeFeed } from './change-feed.js';
import { migrations } from './migrations/index.js';
import type { Dialect } from './migrations/helpers.js';
import type { Database } from './schema.js';
import type BetterSqlite3 from 'better-sqlite3';
import type pg from 'pg';

export type { Dialect };

export interface StorageOptions {
  dialect: Dialect;
  databaseUrl: string;
  sqlitePath?: string;
}

/** One open database: the Kysely instance, its dialect and the feed of changes made anywhere. */
export interface Storage {
  db: Kysely<Database>;
  dialect: Dialect;
  changes: ChangeFeed;
  /**
   * SQLite only: the connection under Kysely, for the one hot write (Previous Auths batches) that
   * runs prepared statements on it directly; use it only while holding Kysely's connection.
   */
  sqlite?: BetterSqlite3.Database;
  /**
   * PostgreSQL only: the pool under Kysely, for the same hot write, sent through node-postgres's
   * callback API (see AuthLogRepository.writeBatch for why), and for the pool's metrics.
   */
  pgPool?: pg.Pool;
  close(): Promise<void>;
}

/**
 * SQLite's page cache for the server's connection, in KiB, below better-sqlite3's 16 MB: under checks
 * it fills with Previous Auths pages that are appended once and never read again (docs/benchmarks.md).
 * Pages it drops are still in the operating system's file cache.
 */
const SQLITE_CACHE_KIB = 4000;

/** Prepared statements kept by SQL text; the rest are prepared again on use. */
const STATEMENT_CACHE = 200;

/**
 * The connection as Kysely sees it, reusing prepared statements. Kysely's SQLite driver prepares
 * every query afresh, and better-sqlite3 frees a statement's native memory only when V8 collects
 * its wrapper, which can be much later, so finished statements pile up. Kysely runs one query at
 * a time on its one connection, so a cached statement is never shared; one still iterating (a
 * streamed query) is not reused.
 */
export function reusingStatements(sqlite: BetterSqlite3.Database): SqliteDatabase {
  const statements = new LRUCache<string, BetterSqlite3.Statement>({ max: STATEMENT_CACHE });
  return {
    close: () => sqlite.close(),
    prepare(text) {
      const cached = statements.get(text);
      if (cached && !cached.busy) return cached;
      const statement = sqlite.prepare(text);
      if (!cached) statements.set(text, statement);
      return statement;
    },
  };
}

/** Opens the database named by the configuration and brings its schema up to date. */
export async function openStorage(options: StorageOptions): Promise<Storage> {
  let db: Kysely<Database>;
  let changes: ChangeFeed;
  let raw: BetterSqlite3.Database | undefined;
  let pgPool: pg.Pool | undefined;
  if (options.dialect === 'sqlite') {
    const file = options.sqlitePath ?? ':memory:';
    // Only the server's user should read the database: it holds key digests and ciphertexts.
    if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // Each driver is loaded only when its dialect is used.
    const { default: SQLite } = await import('better-sqlite3');
    const sqlite = new SQLite(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma(`cache_size = -${SQLITE_CACHE_KIB}`);
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: reusingStatements(sqlite) }) });
    changes = ChangeFeed.forSqlite(db);
    raw = sqlite;
  } else {
    const { default: pg } = await import('pg');
    // int8 (bigint) columns hold epoch milliseconds and counters, all far below 2^53.
    pg.types.setTypeParser(20, (v) => Number(v));
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 10 });
    // An idle client that loses its server must not crash the process; the next query reconnects.
    pool.on('error', () => {});
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    changes = ChangeFeed.forPostgres(options.databaseUrl, db, pg);
    pgPool = pool;
  }
  try {
    await migrate(db, options.dialect);
  } catch (err) {
    await db.destroy().catch(() => {});
    throw err;
  }
  return {
    db,
    dialect: options.dialect,
    changes,
    sqlite: raw,
    pgPool,
    async close() {
      await changes.stop();
      await db.destroy();
    },
  };
}

/** Applies every pending migration; Kysely holds a lock so concurrent starters take turns. */
export async function migrate(db: Kysely<Database>, dialect: Dialect): Promise<void> {
  // Kysely looks for its bookkeeping tables in every schema unless told which one is ours.
  const schema =
    dialect === 'postgres'
      ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]?.schema
      : undefined;
  // Migrations are independent of each other, so one that lands after a later-numbered one
  // (parallel branches) is still applied rather than refused.
  const migrator = new Migrator({ db, provider: migrations(dialect), migrationTableSchema: schema, allowUnorderedMigrations: true });
  let { error, results } = await migrator.migrateToLatest();
  // Kysely's table lookup reads every schema's privileges; another schema dropped during that
  // read fails it with 3F000 (invalid schema name). Nothing was applied then: look again.
  for (let retry = 0; retry < 3 && !results?.length && (error as { code?: string } | undefined)?.code === '3F000'; retry++) {
    ({ error, results } = await migrator.migrateToLatest());
  }
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new Error(`database migration ${failed ?? ''} failed: ${(error as Error).message ?? String(error)}`);
  }
}

/**
 * True when the database refused a statement for the data in it (PostgreSQL classes 22 "data
 * exception" and 23 "integrity constraint violation"; SQLite constraint, type and size errors),
 * so the same statement would be refused again; false for an unreachable or busy database.
 */
export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string') return false;
  return /^2[23][0-9A-Z]{3}$/.test(code) || code.startsWith('SQLITE_CONSTRAINT') || code === 'SQLITE_MISMATCH' || code === 'SQLITE_TOOBIG';
}

/** True for a UNIQUE / PRIMARY KEY violation in either dialect. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
