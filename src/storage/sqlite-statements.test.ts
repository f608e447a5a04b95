import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openStorage, reusingStatements, type Storage } from './database.js';

describe('reusingStatements (the SQLite connection as Kysely sees it)', () => {
  const open: Database.Database[] = [];
  afterEach(() => {
    for (const db of open.splice(0)) db.close();
  });
  const memory = (): Database.Database => {
    const db = new Database(':memory:');
    open.push(db);
    db.exec('create table t (a integer); insert into t values (1), (2), (3)');
    return db;
  };

  it('hands out the same prepared statement for the same SQL, and a new one for other SQL', () => {
    const conn = reusingStatements(memory());
    const first = conn.prepare('select a from t order by a');
    expect(conn.prepare('select a from t order by a')).toBe(first);
    expect(conn.prepare('select a from t order by a desc')).not.toBe(first);
    expect(first.all([])).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
  });

  it('does not hand out a statement that is still iterating, and reuses it once it is done', () => {
    const conn = reusingStatements(memory());
    const text = 'select a from t where a >= ? order by a';
    const streaming = conn.prepare(text);
    const rows = streaming.iterate([2]);
    expect(rows.next().value).toEqual({ a: 2 });
    const other = conn.prepare(text);
    expect(other).not.toBe(streaming);
    expect(other.all([1])).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
    expect(rows.next().value).toEqual({ a: 3 });
    expect(rows.next().done).toBe(true);
    expect(conn.prepare(text)).toBe(streaming);
  });

  it('gives a reused write statement fresh results every time', () => {
    const conn = reusingStatements(memory());
    const insert = conn.prepare('insert into t (a) values (?)');
    expect(insert.run([10])).toMatchObject({ changes: 1, lastInsertRowid: 4 });
    expect(conn.prepare('insert into t (a) values (?)').run([11])).toMatchObject({ changes: 1, lastInsertRowid: 5 });
  });
});

describe('openStorage on SQLite', () => {
  let dir: string;
  let storage: Storage | undefined;
  afterEach(async () => {
    await storage?.close();
    storage = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('caps the page cache and keeps answering correctly through reused statements across a schema change', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'keyward-stmts-'));
    const file = path.join(dir, 'keyward.db');
    storage = await openStorage({ dialect: 'sqlite', databaseUrl: `sqlite:${file}`, sqlitePath: file });
    // 4,000 KiB instead of the 16,000 better-sqlite3 builds SQLite with.
    expect(storage.sqlite!.pragma('cache_size', { simple: true })).toBe(-4000);
    const { db } = storage;
    await sql`create table probe (a integer)`.execute(db);
    await sql`insert into probe (a) values (1)`.execute(db);
    const read = () => sql<Record<string, unknown>>`select * from probe`.execute(db).then((r) => r.rows);
    expect(await read()).toEqual([{ a: 1 }]);
    // The same query text again, after the table changed: the reused statement sees the new column.
    await sql`alter table probe add column b text default 'x'`.execute(db);
    expect(await read()).toEqual([{ a: 1, b: 'x' }]);
    // A failed statement leaves the reused one usable.
    const insert = (a: unknown) => sql`insert into probe (a) values (${a})`.execute(db);
    await sql`create unique index probe_a on probe (a)`.execute(db);
    await expect(insert(1)).rejects.toThrow(/UNIQUE/);
    await insert(2);
    expect(await read()).toEqual([
      { a: 1, b: 'x' },
      { a: 2, b: 'x' },
    ]);
  });
});
