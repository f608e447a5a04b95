import type { Command } from 'commander';
import { loadConfig, type Config } from '../config.js';
import { fail, table, type OutputOptions } from './run.js';

const PG_BACKUP =
  'keyward backup works with SQLite only; for PostgreSQL use pg_dump, e.g. pg_dump --format=custom --file=keyward.dump "$DATABASE_URL"';
const PG_RESTORE =
  'keyward restore works with SQLite only; for PostgreSQL use pg_restore into an empty database, e.g. pg_restore --no-owner --dbname="$DATABASE_URL" keyward.dump';

export function backupCommands(program: Command): void {
  program
    .command('backup <file>')
    .description('copy the SQLite database to FILE, safely while the server runs (PostgreSQL: use pg_dump)')
    .option('--force', 'overwrite FILE if it exists')
    .option('--json', 'print JSON')
    .action((file: string, o: OutputOptions & { force?: boolean }) =>
      run(o, async (config) => {
        if (config.dialect !== 'sqlite') throw new Error(PG_BACKUP);
        const { backupSqlite } = await import('../storage/sqlite-backup.js');
        return backupSqlite(sqliteFile(config), file, { force: o.force });
      }, (r) =>
        `Backed up the database to ${r.file}.\n${table({ size: `${r.bytes} bytes`, licenses: r.licenses, time: `${r.durationMs} ms` })}\n` +
        'Keep the server secret (KEYWARD_SECRET or DATA_DIR/secret.key) too, apart from this file: the backup needs it.'),
    );

  program
    .command('restore <file>')
    .description('replace the SQLite database with a backup made by `keyward backup` (PostgreSQL: use pg_restore)')
    .option('--force', 'restore even while a server is using the database; it carries on with the restored data')
    .option('--json', 'print JSON')
    .action((file: string, o: OutputOptions & { force?: boolean }) =>
      run(o, async (config) => {
        if (config.dialect !== 'sqlite') throw new Error(PG_RESTORE);
        const database = sqliteFile(config);
        const [{ restoreSqlite }, { migrations }, { loadSecret, secretFingerprint }, { existsSync }, path] = await Promise.all([
          import('../storage/sqlite-backup.js'),
          import('../storage/migrations/index.js'),
          import('../licensing/secret.js'),
          import('node:fs'),
          import('node:path'),
        ]);
        if (!config.KEYWARD_SECRET && !existsSync(path.resolve(config.DATA_DIR, 'secret.key'))) {
          throw new Error(
            `no server secret: put the secret.key that belongs to the backup in ${path.resolve(config.DATA_DIR)}, or set KEYWARD_SECRET, then restore`,
          );
        }
        const known = Object.keys(await migrations(config.dialect).getMigrations());
        const result = await restoreSqlite(file, database, {
          force: o.force,
          secretFingerprint: secretFingerprint(loadSecret(config.KEYWARD_SECRET, config.DATA_DIR)),
          knownMigrations: known,
        });
        if (!result.wasInUse) {
          // Bring an older backup's schema up to date now, as the next start would.
          const { openServices } = await import('../services.js');
          await (await openServices(config)).services.close();
        }
        return result;
      }, (r) =>
        `Restored ${r.file} into ${r.database} (${r.licenses} licenses).\n` +
        (r.previous ? `The database as it was before is saved as ${r.previous}.\n` : '') +
        (r.wasInUse ? 'The running server answers from the restored data within a second.' : 'Start the server when ready.')),
    );
}

function sqliteFile(config: Config): string {
  if (!config.sqlitePath || config.sqlitePath === ':memory:') throw new Error('DATABASE_URL names no SQLite file to back up or restore');
  return config.sqlitePath;
}

/** Like runCommand, but without opening the database first: these commands must see it as others do. */
async function run<T>(opts: OutputOptions, work: (config: Config) => Promise<T>, human: (result: T) => string): Promise<void> {
  try {
    const result = await work(loadConfig());
    process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : `${human(result)}\n`);
  } catch (err) {
    fail(err);
  }
}
