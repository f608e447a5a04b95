import { FAXSTORE_COLUMNS, text, type FaxStoreColumn, type FaxStoreRow } from './faxstore-row.js';
import type { FaxStoreUser } from './owners.js';
import { SourceError, type FaxStoreSource } from './source.js';

/** `mysql://user:pass@host:port/db` with the password left out, for messages and the audit log. */
export function describeMysqlUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.username ? `${decodeURIComponent(u.username)}@` : ''}${u.host}${u.pathname}`;
  } catch {
    return 'mysql://…';
  }
}

/**
 * A live FaxStore database on MySQL or MariaDB: `licensesystem` is read in id order, a page at a
 * time (never one huge result), and owners come from `users` when that table exists.
 */
export async function openMysqlSource(url: string): Promise<FaxStoreSource> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SourceError('--from must be a URL such as mysql://user:password@host:3306/faxstore');
  }
  if (parsed.protocol !== 'mysql:' && parsed.protocol !== 'mariadb:') {
    throw new SourceError('--from must start with mysql:// (or mariadb://), e.g. mysql://user:password@host:3306/faxstore');
  }
  if (parsed.pathname.length <= 1) throw new SourceError('--from must name the FaxStore database, e.g. mysql://user:password@host:3306/faxstore');
  const label = describeMysqlUrl(url);
  parsed.protocol = 'mysql:';
  const { default: mysql } = await import('mysql2/promise');
  let conn: import('mysql2/promise').Connection;
  try {
    conn = await mysql.createConnection({
      uri: parsed.toString(),
      // Discord ids in BIGINT columns exceed 2^53: read big numbers as exact strings.
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
      charset: 'utf8mb4',
      connectTimeout: 10_000,
    });
  } catch (err) {
    throw new SourceError(`cannot connect to the FaxStore database at ${label}: ${(err as Error).message}`);
  }
  try {
    const columns = await columnsOf(conn, 'licensesystem');
    if (!columns) throw new SourceError(`${label} has no licensesystem table; is it a FaxStore database?`);
    const missing = (['id', 'authKey', 'productId'] as const).filter((c) => !columns.has(c));
    if (missing.length) throw new SourceError(`the licensesystem table at ${label} has no ${missing.join(', ')} column`);
    const select = FAXSTORE_COLUMNS.filter((c) => columns.has(c))
      .map((c) => `${conn.escapeId(columns.get(c)!)} AS ${conn.escapeId(c)}`)
      .join(', ');
    const idColumn = conn.escapeId(columns.get('id')!);
    const userColumns = await columnsOf(conn, 'users');
    return {
      label,
      async count() {
        const [rows] = await conn.query('SELECT COUNT(*) AS n FROM licensesystem');
        return Number((rows as { n: number | string }[])[0]?.n ?? 0);
      },
      async *rows(batchSize) {
        // Keyset pages: each query is small and fast however large the table is.
        let after: string | number = -1;
        for (;;) {
          const [rows] = await conn.query(`SELECT ${select} FROM licensesystem WHERE ${idColumn} > ? ORDER BY ${idColumn} LIMIT ?`, [
            after,
            batchSize,
          ]);
          const batch = rows as FaxStoreRow[];
          if (batch.length === 0) return;
          after = batch[batch.length - 1]!.id as string | number;
          yield batch;
          if (batch.length < batchSize) return;
        }
      },
      async users() {
        const users = new Map<string, FaxStoreUser>();
        if (!userColumns?.has('userId')) return users;
        const pick = (['userId', 'username', 'email'] as const).filter((c) => userColumns.has(c));
        const [rows] = await conn.query(`SELECT ${pick.map((c) => `${conn.escapeId(userColumns.get(c)!)} AS ${conn.escapeId(c)}`).join(', ')} FROM users`);
        for (const row of rows as Record<string, unknown>[]) {
          const id = text(row.userId)?.trim();
          if (!id || users.has(id)) continue;
          users.set(id, { username: text(row.username)?.trim() || null, email: text(row.email)?.trim() || null });
        }
        return users;
      },
      close: () => conn.end(),
    };
  } catch (err) {
    await conn.end().catch(() => {});
    throw err;
  }
}

/** The table's columns, by their canonical FaxStore name (matched case-insensitively); null if no table. */
async function columnsOf(
  conn: import('mysql2/promise').Connection,
  table: string,
): Promise<Map<FaxStoreColumn | 'userId' | 'username' | 'email', string> | null> {
  const [tables] = await conn.query('SHOW TABLES LIKE ?', [table]);
  if ((tables as unknown[]).length === 0) return null;
  const [rows] = await conn.query(`SHOW COLUMNS FROM ${conn.escapeId(table)}`);
  const known: readonly string[] = [...FAXSTORE_COLUMNS, 'username', 'email'];
  const map = new Map<FaxStoreColumn, string>();
  for (const { Field } of rows as { Field: string }[]) {
    const canonical = known.find((k) => k.toLowerCase() === Field.toLowerCase());
    if (canonical) map.set(canonical as FaxStoreColumn, Field);
  }
  return map;
}
