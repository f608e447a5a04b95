import mysql from 'mysql2/promise';

const DEFAULT_MYSQL = 'mysql://root@127.0.0.1:3306/test';

/**
 * Decides whether the MariaDB/MySQL suites run, like global-setup.ts does for PostgreSQL:
 * TEST_MYSQL_URL set → they run, and an unreachable server fails the run; unset → the local
 * default server is tried, and if none answers the suites are skipped with a line saying so.
 */
export async function resolveMysqlUrl(): Promise<string | null> {
  const explicit = process.env.TEST_MYSQL_URL;
  const url = explicit || DEFAULT_MYSQL;
  try {
    const conn = await mysql.createConnection({ uri: url, connectTimeout: 3000 });
    await conn.query('select 1');
    await conn.end();
    return url;
  } catch (err) {
    if (explicit) throw new Error(`TEST_MYSQL_URL=${explicit} is unreachable: ${(err as Error).message}`);
    process.stdout.write(`\n[keyward tests] No MariaDB/MySQL at ${DEFAULT_MYSQL} and TEST_MYSQL_URL unset: skipping the FaxStore MySQL import suites.\n\n`);
    return null;
  }
}
