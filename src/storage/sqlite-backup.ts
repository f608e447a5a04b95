import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';

/** A fault in a backup or restore the operator can fix; the message says how. */
export class BackupError extends Error {
  override name = 'BackupError';
}

export interface BackupResult {
  file: string;
  bytes: number;
  licenses: number;
  durationMs: number;
}

export interface RestoreResult {
  file: string;
  database: string;
  licenses: number;
  /** Where the database as it was before the restore was saved (null when there was none). */
  previous: string | null;
  /** True when a running server was using the database (only with --force). */
  wasInUse: boolean;
  durationMs: number;
}

type Driver = typeof BetterSqlite3;
const loadDriver = async (): Promise<Driver> => (await import('better-sqlite3')).default;
/** Copy every remaining page in one step: one consistent snapshot, never restarted by a concurrent write. */
const ALL_PAGES = () => 0x7fffffff;

/**
 * Copies a live SQLite database with SQLite's online backup API: safe while the server and
 * CLI write to it (WAL readers never block them). The copy is written next to FILE, checked
 * (quick_check), turned into a single self-contained file (no -wal), made mode 0600, and only
 * then renamed to FILE, so FILE is never a half-written backup.
 */
export async function backupSqlite(database: string, file: string, opts: { force?: boolean } = {}): Promise<BackupResult> {
  const started = Date.now();
  const dest = path.resolve(file);
  if (!existsSync(database)) throw new BackupError(`there is no database at ${database}`);
  if (sameFile(database, dest)) throw new BackupError('the backup file cannot be the database itself');
  if (!existsSync(path.dirname(dest))) throw new BackupError(`the folder ${path.dirname(dest)} does not exist`);
  if (existsSync(dest) && !opts.force) throw new BackupError(`${file} already exists; choose another name or pass --force to overwrite it`);
  const Driver = await loadDriver();
  const tmp = `${dest}.tmp-${randomBytes(4).toString('hex')}`;
  const source = new Driver(database, { fileMustExist: true });
  try {
    source.pragma('busy_timeout = 5000');
    await source.backup(tmp, { progress: ALL_PAGES });
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new BackupError(`backing up ${database} failed: ${(err as Error).message}`);
  } finally {
    source.close();
  }
  try {
    const copy = new Driver(tmp, { fileMustExist: true });
    let licenses: number;
    try {
      copy.pragma('journal_mode = DELETE');
      const check = copy.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new BackupError(`the backup failed SQLite's quick_check: ${String(check)}`);
      licenses = countLicenses(copy);
    } finally {
      copy.close();
    }
    // It holds key digests and ciphertexts: only the owner may read it.
    chmodSync(tmp, 0o600);
    renameSync(tmp, dest);
    return { file: dest, bytes: statSync(dest).size, licenses, durationMs: Date.now() - started };
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

export interface RestoreOptions {
  /** Restore even though another process (a running server) has the database open. */
  force?: boolean;
  /** The fingerprint of the configured server secret: a backup made with another secret is refused. */
  secretFingerprint: string;
  /** The migrations this version of Keyward knows: a backup from a newer version is refused. */
  knownMigrations: readonly string[];
}

/**
 * Replaces the database with a backup. FILE is first copied aside and checked: an SQLite file,
 * `PRAGMA integrity_check` ok, Keyward's tables, no migration unknown to this version, the same
 * server secret. The current database is saved next to it (`…before-restore-<time>`). Then the
 * copy is written in with SQLite's backup API, in one transaction: readers see the old database or
 * the new one, never a mix. A database another process has open (a running server) is refused
 * unless `force`; with `force` that server carries on with the restored data.
 */
export async function restoreSqlite(file: string, database: string, opts: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  const from = path.resolve(file);
  if (!existsSync(from)) throw new BackupError(`there is no file ${file}`);
  if (statSync(from).isDirectory()) throw new BackupError(`${file} is a folder, not a backup file`);
  if (existsSync(database) && sameFile(database, from)) throw new BackupError('the backup file is the database itself');
  if (!existsSync(path.dirname(database))) throw new BackupError(`the folder ${path.dirname(database)} does not exist`);
  const Driver = await loadDriver();
  // Work on a private copy, so FILE changing meanwhile cannot matter.
  const staged = path.join(path.dirname(database), `.keyward-restore-${randomBytes(4).toString('hex')}.db`);
  copyFileSync(from, staged);
  chmodSync(staged, 0o600);
  try {
    const source = openBackup(Driver, staged, file);
    try {
      const { licenses, migrations } = checkBackup(source, file, opts);
      const wasInUse = existsSync(database) && inUse(Driver, database);
      if (wasInUse && !opts.force) {
        throw new BackupError(
          `the database ${database} is in use by another process (is \`keyward serve\` running?); stop it first, or pass --force to restore into the running server`,
        );
      }
      // A running server expects its own schema; an older backup needs a restart to be upgraded.
      if (wasInUse && migrations < opts.knownMigrations.length) {
        throw new BackupError(`${file} has an older schema; stop the server, restore, then start it again (it upgrades the schema)`);
      }
      let previous: string | null = null;
      if (existsSync(database)) {
        previous = `${database}.before-restore-${new Date().toISOString().replace(/[-:]/g, '')}`;
        await backupSqlite(database, previous);
      }
      await source.backup(database, { progress: ALL_PAGES }).catch((err: Error) => {
        throw new BackupError(`restoring into ${database} failed (it is unchanged): ${err.message}`);
      });
      return { file: from, database, licenses, previous, wasInUse, durationMs: Date.now() - started };
    } finally {
      source.close();
    }
  } finally {
    for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${staged}${suffix}`, { force: true });
  }
}

function openBackup(Driver: Driver, staged: string, file: string): BetterSqlite3.Database {
  let db: BetterSqlite3.Database | null = null;
  try {
    db = new Driver(staged, { fileMustExist: true });
    // A copy of a WAL database without its -wal file is complete once in rollback mode.
    db.pragma('journal_mode = DELETE');
    return db;
  } catch (err) {
    db?.close();
    throw new BackupError(`${file} is not an SQLite database (${(err as Error).message})`);
  }
}

function checkBackup(db: BetterSqlite3.Database, file: string, opts: RestoreOptions): { licenses: number; migrations: number } {
  let problems: string[];
  try {
    problems = (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check);
  } catch (err) {
    throw new BackupError(`${file} is not an SQLite database (${(err as Error).message})`);
  }
  if (problems.length !== 1 || problems[0] !== 'ok') {
    throw new BackupError(`${file} failed SQLite's integrity check: ${problems.slice(0, 3).join('; ')}`);
  }
  const tables = new Set((db.prepare("select name from sqlite_master where type = 'table'").all() as { name: string }[]).map((r) => r.name));
  for (const table of ['kysely_migration', 'licenses', 'settings']) {
    if (!tables.has(table)) throw new BackupError(`${file} is not a Keyward database (it has no ${table} table)`);
  }
  const applied = (db.prepare('select name from kysely_migration order by name').all() as { name: string }[]).map((r) => r.name);
  const unknown = applied.filter((name) => !opts.knownMigrations.includes(name));
  if (unknown.length) throw new BackupError(`${file} comes from a newer Keyward (migration ${unknown[0]}); upgrade Keyward before restoring it`);
  const fingerprint = (db.prepare("select value from settings where name = 'secret_fingerprint'").get() as { value: string } | undefined)?.value;
  if (fingerprint !== undefined && fingerprint !== opts.secretFingerprint) {
    throw new BackupError(
      `${file} was made with a different server secret (KEYWARD_SECRET or DATA_DIR/secret.key); restore it with the secret it was made with`,
    );
  }
  return { licenses: countLicenses(db), migrations: applied.length };
}

/**
 * Whether another connection has the database open. A WAL database cannot be locked exclusively
 * while any other connection, even an idle one, is attached to it.
 */
function inUse(Driver: Driver, database: string): boolean {
  const probe = new Driver(database, { fileMustExist: true, timeout: 0 });
  try {
    probe.pragma('locking_mode = EXCLUSIVE');
    probe.exec('BEGIN EXCLUSIVE');
    probe.exec('COMMIT');
    return false;
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith('SQLITE_BUSY')) return true;
    throw err;
  } finally {
    probe.close();
  }
}

function countLicenses(db: BetterSqlite3.Database): number {
  return Number((db.prepare('select count(*) as n from licenses').get() as { n: number }).n);
}

function sameFile(a: string, b: string): boolean {
  try {
    return existsSync(b) && realpathSync(a) === realpathSync(b);
  } catch {
    return path.resolve(a) === path.resolve(b);
  }
}
