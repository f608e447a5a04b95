import { sql, type Kysely } from 'kysely';
import type { Storage } from './database.js';
import { PASSING_STATUSES } from '../licensing/validate-license.js';
import type { AuthLogInsert, Database } from './schema.js';
import type BetterSqlite3 from 'better-sqlite3';
import type pg from 'pg';

/** What the repository needs of the storage: Kysely, and for the batch writer the connection(s) under it. */
export type AuthLogStorage = Pick<Storage, 'db' | 'dialect' | 'sqlite' | 'pgPool'>;

/** SQLite: rows per prepared multi-row INSERT (compiled once); the rest go one prepared row at a time. */
const SQLITE_CHUNK = 64;

/** What a batch of checks adds to one license's counters. */
export interface CounterDelta {
  checks: number;
  lastCheckAt: number;
  lastIp: string;
}

/** The newest sighting of one machine in a batch: written behind like the counters. */
export interface MachineSighting {
  at: number;
  ip: string;
}

export interface AuthLogQuery {
  licenseId?: number;
  /** Several licenses at once (a customer's own); an empty list matches nothing. */
  licenseIds?: readonly number[];
  productId?: number;
  status?: string;
  /** Epoch ms, inclusive. */
  from?: number;
  /** Epoch ms, exclusive. */
  to?: number;
  /** Only rows older than this row id (newest-first pagination). */
  beforeId?: number;
  limit: number;
  /** true: only AUTHORISED rows; false: only failures. */
  passed?: boolean;
  /** Exact caller IP. */
  ip?: string;
  /** Only checks whose key matched no license. */
  unknownKey?: boolean;
}

/**
 * Previous Auths rows and the per-license check counters that travel with them.
 *
 * The batch writer runs for every check, so its statements never change shape: on SQLite they
 * are prepared once on the connection itself (Kysely's driver compiles every statement afresh,
 * which for a many-row INSERT costs as much as running it); on PostgreSQL each column travels as
 * one array (`unnest`), so the server parses a few lines instead of thousands of placeholders.
 */
export class AuthLogRepository {
  private readonly sqliteWriter: SqliteBatchWriter | null;
  private readonly pgPool: pg.Pool | null;
  private readonly db: Kysely<Database>;
  /**
   * PostgreSQL: the batch statements are named, so each pooled connection parses and plans them
   * once instead of on every batch. Off for good once the server says a named statement went missing.
   */
  private namedStatements = true;

  constructor(storage: AuthLogStorage) {
    const { dialect, sqlite, pgPool } = storage;
    if (dialect === 'sqlite' && !sqlite) throw new Error('AuthLogRepository on SQLite needs the connection handle (Storage.sqlite)');
    if (dialect === 'postgres' && !pgPool) throw new Error('AuthLogRepository on PostgreSQL needs the connection pool (Storage.pgPool)');
    this.db = storage.db;
    this.sqliteWriter = dialect === 'sqlite' ? sqliteBatchWriter(sqlite!) : null;
    this.pgPool = dialect === 'postgres' ? pgPool! : null;
  }

  /** Writes one batch atomically (one transaction, or one statement): log rows and counter increments (never lost, never doubled). */
  async writeBatch(
    rows: readonly AuthLogInsert[],
    counters: ReadonlyMap<number, CounterDelta>,
    machines: ReadonlyMap<number, MachineSighting> = NO_MACHINES,
  ): Promise<void> {
    const write = this.sqliteWriter;
    if (write) {
      // Holding Kysely's one connection keeps this out of any Kysely transaction in progress.
      await this.db.connection().execute(async () => write(rows, counters, machines));
      return;
    }
    // Sightings first, in a statement of their own: writing one twice changes nothing, so if the
    // batch after it fails, the retry that writes both again is harmless.
    if (machines.size) await this.queryPostgres(SEEN_POSTGRES, sightingColumns(machines));
    // PostgreSQL: each column travels as one array parameter, so the statement text never
    // changes and the server parses and plans a few lines, not thousands of placeholders.
    const logged = rowColumns(rows);
    const counted = counterColumns(counters);
    if (rows.length && counters.size) await this.queryPostgres(WRITE_POSTGRES, [...logged, ...counted]);
    else if (rows.length) await this.queryPostgres(INSERT_POSTGRES, logged);
    else if (counters.size) await this.queryPostgres(COUNT_POSTGRES, counted);
  }

  /**
   * One statement through node-postgres's callback API, not Kysely's promise form, which let every
   * batch reach V8's old generation and grew RSS under load (docs/benchmarks.md). The pool is
   * Kysely's, so connections and limits are shared; errors are node-postgres's (with `code`).
   */
  private queryPostgres(text: string, values: readonly string[]): Promise<void> {
    const name = this.namedStatements ? STATEMENT_NAMES.get(text) : undefined;
    return new Promise<void>((resolve, reject) => {
      this.pgPool!.query({ name, text, values: values as string[] }, (err: Error | undefined) => (err ? reject(err) : resolve()));
    }).catch((err: unknown) => {
      // A pooler between us and PostgreSQL that hands each statement to any server connection
      // (PgBouncer before 1.21 in transaction mode) loses named statements: run unnamed from now on.
      if (!name || !isLostStatement(err)) throw err;
      this.namedStatements = false;
      return this.queryPostgres(text, values);
    });
  }

  list(query: AuthLogQuery) {
    let q = this.db.selectFrom('auth_logs').selectAll();
    if (query.licenseId !== undefined) q = q.where('license_id', '=', query.licenseId);
    if (query.licenseIds !== undefined) {
      if (query.licenseIds.length === 0) return Promise.resolve([]);
      q = q.where('license_id', 'in', query.licenseIds);
    }
    if (query.productId !== undefined) q = q.where('product_id', '=', query.productId);
    if (query.status !== undefined) q = q.where('status', '=', query.status);
    if (query.from !== undefined) q = q.where('time', '>=', query.from);
    if (query.to !== undefined) q = q.where('time', '<', query.to);
    if (query.beforeId !== undefined) q = q.where('id', '<', query.beforeId);
    if (query.passed !== undefined) q = q.where('status', query.passed ? 'in' : 'not in', PASSING_STATUSES);
    if (query.ip !== undefined) q = q.where('ip', '=', query.ip);
    if (query.unknownKey) q = q.where('license_id', 'is', null);
    return q.orderBy('id', 'desc').limit(query.limit).execute();
  }

  /** The IPs, or the licenses, with the most failed checks since `from`, most first. */
  async topFailures(by: 'ip' | 'license', from: number, limit: number): Promise<{ value: string; failures: number; lastTime: number }[]> {
    // `license_id + 0` keeps SQLite on the time index: grouping by the bare column makes it walk
    // the whole license index instead (seconds on a million rows).
    const column = by === 'ip' ? sql<string | number>`ip` : sql<string | number>`license_id + 0`;
    let q = this.db
      .selectFrom('auth_logs')
      .select((eb) => [column.as('value'), eb.fn.countAll<number>().as('failures'), eb.fn.max('time').as('last_time')])
      .where('time', '>=', from)
      .where('status', 'not in', PASSING_STATUSES);
    if (by === 'license') q = q.where('license_id', 'is not', null);
    const rows = await q.groupBy(column).orderBy('failures', 'desc').orderBy(column).limit(limit).execute();
    return rows.map((r) => ({ value: String(r.value), failures: Number(r.failures), lastTime: Number(r.last_time) }));
  }
}

const NO_MACHINES: ReadonlyMap<number, MachineSighting> = new Map();

const COLUMNS = 'time, license_id, product_id, ip, status, info, user_agent, endpoint';

/** PostgreSQL: the rows' columns, in COLUMNS order, as array literals. */
function rowColumns(rows: readonly AuthLogInsert[]): string[] {
  const columns: Scalar[][] = [[], [], [], [], [], [], [], []];
  for (const r of rows) {
    columns[0]!.push(r.time);
    columns[1]!.push(r.license_id);
    columns[2]!.push(r.product_id);
    columns[3]!.push(r.ip);
    columns[4]!.push(r.status);
    columns[5]!.push(r.info);
    columns[6]!.push(r.user_agent);
    columns[7]!.push(r.endpoint);
  }
  return columns.map(arrayLiteral);
}

/** PostgreSQL: the sightings as machine id, time and IP literals, machines in id order. */
function sightingColumns(machines: ReadonlyMap<number, MachineSighting>): string[] {
  const ids = [...machines.keys()].sort((a, b) => a - b);
  const columns: Scalar[][] = [ids, [], []];
  for (const id of ids) {
    const seen = machines.get(id)!;
    columns[1]!.push(seen.at);
    columns[2]!.push(seen.ip);
  }
  return columns.map(arrayLiteral);
}

/** PostgreSQL: the counters as id, checks, last check and last IP literals, licenses in id order. */
function counterColumns(counters: ReadonlyMap<number, CounterDelta>): string[] {
  // Licenses in id order, so two instances' batches lock shared rows in the same order.
  const ids = [...counters.keys()].sort((a, b) => a - b);
  const columns: Scalar[][] = [ids, [], [], []];
  for (const id of ids) {
    const d = counters.get(id)!;
    columns[1]!.push(d.checks);
    columns[2]!.push(d.lastCheckAt);
    columns[3]!.push(d.lastIp);
  }
  return columns.map(arrayLiteral);
}

type Scalar = number | string | null | undefined;

/**
 * A PostgreSQL array literal (`{1,NULL,"text"}`), written here rather than by node-postgres,
 * which converts arrays element by element through its general value conversion: this costs
 * Keyward less CPU per row, and only the literal is held while the database works on the batch.
 * A missing value is NULL even where the type says it cannot be, so a NOT NULL column refuses it.
 */
function arrayLiteral(values: readonly Scalar[]): string {
  return `{${values.map(element).join(',')}}`;
}

const NEEDS_ESCAPE = /["\\]/;

/** One element of an array literal: NULL, a number as it is, or text double-quoted with `"` and `\` escaped. */
function element(value: Scalar): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number') return String(value);
  return NEEDS_ESCAPE.test(value) ? `"${value.replace(/["\\]/g, '\\$&')}"` : `"${value}"`;
}

/**
 * SQLite: a multi-row INSERT of `rows` rows, `or fail`: a row the table refuses stops the statement
 * without undoing its earlier rows, which is safe here because the batch's transaction is then
 * rolled back whole. The default (`or abort`) would keep a statement journal of every page the
 * statement changes, a fifth of the row's cost (docs/benchmarks.md).
 */
function insertText(rows: number): string {
  const group = `(${Array(8).fill('?').join(', ')})`;
  return `insert or fail into auth_logs (${COLUMNS}) values ${Array(rows).fill(group).join(', ')}`;
}

/** PostgreSQL: the rows as one array per column, parameters $p to $p+7. */
const insertPostgres = (p: number): string =>
  `insert into auth_logs (${COLUMNS}) ` +
  `select * from unnest($${p}::bigint[], $${p + 1}::integer[], $${p + 2}::integer[], $${p + 3}::text[], $${p + 4}::text[], $${p + 5}::text[], $${p + 6}::text[], $${p + 7}::text[])`;

/**
 * PostgreSQL: adds each license's checks and keeps the newest last check (instances may flush out
 * of order); parameters $p to $p+3.
 */
const countPostgres = (p: number): string =>
  'update licenses set total_checks = licenses.total_checks + v.checks, ' +
  'last_check_at = case when licenses.last_check_at is null or licenses.last_check_at <= v.at then v.at else licenses.last_check_at end, ' +
  'last_ip = case when licenses.last_check_at is null or licenses.last_check_at <= v.at then v.ip else licenses.last_ip end ' +
  `from unnest($${p}::integer[], $${p + 1}::bigint[], $${p + 2}::bigint[], $${p + 3}::text[]) as v(id, checks, at, ip) ` +
  'where licenses.id = v.id';

const INSERT_POSTGRES = insertPostgres(1);
const COUNT_POSTGRES = countPostgres(1);
/**
 * PostgreSQL: rows and counters in one statement (a data-modifying WITH always runs), so one
 * round trip and no explicit transaction: a single statement lands whole or not at all.
 */
const WRITE_POSTGRES = `with logged as (${insertPostgres(1)}) ${countPostgres(9)}`;

/** PostgreSQL: each machine's newest sighting, never moving one back (instances may flush out of order). */
const SEEN_POSTGRES =
  'update machines set last_seen_at = greatest(machines.last_seen_at, v.at), ' +
  'ip = case when machines.last_seen_at <= v.at then v.ip else machines.ip end ' +
  'from unnest($1::integer[], $2::bigint[], $3::text[]) as v(id, at, ip) where machines.id = v.id';

/** PostgreSQL: the prepared name of each batch statement (one text per name, as node-postgres requires). */
const STATEMENT_NAMES = new Map([
  [WRITE_POSTGRES, 'keyward_auth_log_write'],
  [INSERT_POSTGRES, 'keyward_auth_log_insert'],
  [COUNT_POSTGRES, 'keyward_auth_log_count'],
  [SEEN_POSTGRES, 'keyward_machines_seen'],
]);

/** PostgreSQL: a named statement the server connection does not have (26000), or has already (42P05). */
function isLostStatement(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === '26000' || code === '42P05';
}

/**
 * SQLite's batch write: one synchronous transaction of statements prepared once on the
 * connection; it throws (and rolls back) as a whole, so the writer can retry the batch.
 */
type SqliteBatchWriter = (
  rows: readonly AuthLogInsert[],
  counters: ReadonlyMap<number, CounterDelta>,
  machines: ReadonlyMap<number, MachineSighting>,
) => void;

function sqliteBatchWriter(sqlite: BetterSqlite3.Database): SqliteBatchWriter {
  let transaction: SqliteBatchWriter | null = null;
  // Prepared on first use: the schema is certainly migrated by then.
  const prepare = () => {
    const insertMany = sqlite.prepare(insertText(SQLITE_CHUNK));
    const insertOne = sqlite.prepare(insertText(1));
    const count = sqlite.prepare(COUNT_ONE_SQLITE);
    const seen = sqlite.prepare(SEEN_ONE_SQLITE);
    const params: unknown[] = [];
    return sqlite.transaction((rows: readonly AuthLogInsert[], counters: ReadonlyMap<number, CounterDelta>, machines: ReadonlyMap<number, MachineSighting>) => {
      let i = 0;
      for (; i + SQLITE_CHUNK <= rows.length; i += SQLITE_CHUNK) {
        params.length = 0;
        for (let j = i; j < i + SQLITE_CHUNK; j++) {
          const r = rows[j]!;
          params.push(r.time, r.license_id, r.product_id, r.ip, r.status, r.info, r.user_agent, r.endpoint ?? null);
        }
        insertMany.run(params);
      }
      for (; i < rows.length; i++) {
        const r = rows[i]!;
        insertOne.run(r.time, r.license_id, r.product_id, r.ip, r.status, r.info, r.user_agent, r.endpoint ?? null);
      }
      for (const [id, d] of counters) count.run(d.checks, d.lastCheckAt, d.lastCheckAt, d.lastCheckAt, d.lastIp, id);
      for (const [id, m] of machines) seen.run(m.at, m.at, m.ip, id);
    });
  };
  return (rows, counters, machines) => {
    // Never nest: a savepoint inside someone else's transaction could be rolled back with it.
    if (sqlite.inTransaction) throw new Error('the SQLite connection is inside another transaction');
    transaction ??= prepare();
    transaction(rows, counters, machines);
  };
}

/** SQLite, one license: adds its checks and keeps the newest last check (SET reads the old row). */
const COUNT_ONE_SQLITE =
  'update licenses set total_checks = total_checks + ?, ' +
  'last_check_at = case when last_check_at is null or last_check_at <= ? then ? else last_check_at end, ' +
  'last_ip = case when last_check_at is null or last_check_at <= ? then ? else last_ip end ' +
  'where id = ?';

/** SQLite, one machine: its newest sighting and the IP it came from (SET reads the old row). */
const SEEN_ONE_SQLITE =
  'update machines set last_seen_at = max(last_seen_at, ?), ' +
  'ip = case when last_seen_at <= ? then ? else ip end ' +
  'where id = ?';
