import { statSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteCheckpointer } from '../src/storage/sqlite-checkpointer.js';
import type { AuthLogInsert } from '../src/storage/schema.js';
import { createSqlite, type TestDatabase } from './helpers/dialects.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { until } from './helpers/wait.js';

const autocheckpoint = (db: SQLite.Database) => db.pragma('wal_autocheckpoint', { simple: true });

/**
 * The server's SQLite connection never checkpoints the WAL itself (that copy and disk sync would
 * hold up the checks behind it); a worker thread does, and if the worker fails the connection
 * takes the job back.
 */
describe('SQLite WAL checkpoints in the background', () => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createSqlite();
    server = await startTestServer(db);
  });
  afterAll(async () => {
    await server?.close();
    await db?.cleanup();
  });

  it('moves what the server writes into the database file without the server checkpointing', async () => {
    const sqlite = server.internal.storage.sqlite!;
    expect(autocheckpoint(sqlite)).toBe(0);
    const file = db.file!;
    const before = statSync(file).size;
    // About 8 MB of Previous Auths: far beyond the 1000 pages after which SQLite would checkpoint.
    const info = 'x'.repeat(200);
    for (let batch = 0; batch < 10; batch++) {
      const rows: AuthLogInsert[] = Array.from({ length: 3000 }, (_, i) => ({
        time: Date.now(),
        license_id: null,
        product_id: 1,
        ip: '192.0.2.1',
        status: 'NOT FOUND',
        info: `${info}${batch}-${i}`,
        user_agent: null,
      }));
      await server.internal.checkPath.authLogs.writeBatch(rows, new Map());
    }
    // Only a checkpoint grows the database file; the worker does one within a second or so.
    expect(await until(() => statSync(file).size > before + 4_000_000, Boolean)).toBe(true);
    expect(statSync(`${file}-wal`).size).toBeGreaterThan(0);
  });

  it('leaves a database that holds everything once the server stops', async () => {
    await server.close();
    const reopened = new SQLite(db.file!, { readonly: true });
    try {
      expect(reopened.prepare('select count(*) as n from auth_logs').get()).toEqual({ n: 30_000 });
    } finally {
      reopened.close();
    }
  });

  it('gives checkpoints back to the connection when the worker cannot work', async () => {
    const dir = path.dirname(db.file!);
    const own = new SQLite(path.join(dir, 'own.db'));
    own.pragma('journal_mode = WAL');
    const errors: Error[] = [];
    // The worker opens a file that does not exist, and fails.
    const checkpointer = SqliteCheckpointer.start(own, path.join(dir, 'missing.db'), { onError: (err) => errors.push(err) });
    expect(autocheckpoint(own)).toBe(0);
    expect(await until(() => errors.length > 0, Boolean)).toBe(true);
    expect(autocheckpoint(own)).toBe(1000);
    await checkpointer.stop();
    own.close();
  });
});
