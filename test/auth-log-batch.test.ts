import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { sql } from 'kysely';
import { loadConfig } from '../src/config.js';
import { openServices, type Internals, type Services } from '../src/services.js';
import { AuthLogRepository, type CounterDelta } from '../src/storage/auth-log-repository.js';
import type { AuthLogInsert } from '../src/storage/schema.js';
import { WriteBehind } from '../src/storage/write-behind.js';
import { describeEachDialect, type TestDatabase } from './helpers/dialects.js';

/**
 * The write-behind's one database write, against the real databases: a batch of Previous Auths
 * rows and counter increments lands whole (every row, every increment, once) or not at all. On
 * SQLite it runs prepared statements on the connection under Kysely, so it must also wait for, and
 * stay out of, a Kysely transaction that is open at the time.
 */
describeEachDialect('Previous Auths batch write ($name)', (create, name) => {
  let db: TestDatabase;
  let services: Services;
  let internal: Internals;
  let a: number;
  let b: number;

  const row = (i: number, licenseId: number | null, time = 1_700_000_000_000 + i): AuthLogInsert => ({
    time,
    license_id: licenseId,
    product_id: 3,
    ip: `198.51.100.${i % 250}`,
    status: licenseId === null ? 'NOT FOUND' : 'AUTHORISED',
    info: i % 3 === 0 ? `info ${i} ' " ; -- \\ {a,b} NULL é 🔑` : i % 3 === 1 ? 'NULL' : null,
    user_agent: i % 2 === 0 ? 'axios/1.7' : null,
  });
  const logRows = () =>
    internal.storage.db.selectFrom('auth_logs').select(['time', 'license_id', 'product_id', 'ip', 'status', 'info', 'user_agent']).orderBy('id').execute();
  const counters = (id: number) =>
    internal.storage.db.selectFrom('licenses').select(['total_checks', 'last_check_at', 'last_ip']).where('id', '=', id).executeTakeFirstOrThrow();

  beforeAll(async () => {
    db = await create();
    ({ services, internal } = await openServices(loadConfig(db.env, { dotenv: false })));
    await services.products.create({ id: 3, name: 'Three' }, 'test');
    a = (await services.licenses.create({ productIds: [3] }, 'test')).id;
    b = (await services.licenses.create({ productIds: [3] }, 'test')).id;
  });
  afterAll(async () => {
    await services?.close();
    await db?.cleanup();
  });
  beforeEach(async () => {
    await internal.storage.db.deleteFrom('auth_logs').execute();
    await internal.storage.db.updateTable('licenses').set({ total_checks: 0, last_check_at: null, last_ip: null }).execute();
  });

  it('writes every row exactly once, in order, whatever the batch size', async () => {
    // 1, a partial chunk, whole chunks plus a remainder, and more than one 500-row INSERT.
    let expected: AuthLogInsert[] = [];
    for (const size of [1, 63, 64, 150, 1037]) {
      const rows = Array.from({ length: size }, (_, i) => row(expected.length + i, [a, b, null][i % 3]!));
      await internal.checkPath.authLogs.writeBatch(rows, new Map());
      expected = expected.concat(rows);
    }
    expect(await logRows()).toEqual(expected);
  });

  it('stores any text exactly as given: quotes, backslashes, separators, braces, newlines, emoji', async () => {
    const texts = ['plain', 'say "hi"', 'back\\slash \\u0041', 'a,b;c', '{"json":[1,2]}', '{braces}', 'NULL', 'line\nbreak\ttab', 'é ü 中文 😀', "it's", '', ' lead and trail '];
    const rows = texts.map((text, i) => ({ ...row(i, a), info: text, user_agent: `${text} agent` }));
    await internal.checkPath.authLogs.writeBatch(rows, new Map());
    expect(await logRows()).toEqual(rows);
  });

  // PostgreSQL refuses NUL in text. The check path no longer lets one through (parse-input), but
  // should any row ever be refused for its data, it alone is set aside, not its whole batch forever.
  it('a row the database refuses is set aside alone; the rest of the batch and every count land', async () => {
    const refused: AuthLogInsert[] = [];
    const errors: unknown[] = [];
    const wb = new WriteBehind(internal.checkPath.authLogs, { flushMs: 10_000, onRefused: (_e, r) => refused.push(r), onError: (e) => errors.push(e) });
    const infos = ['one', 'two', 'nul \u0000 here', 'four', 'five'];
    infos.forEach((info, i) => wb.record({ time: 1_700_000_000_000 + i, licenseId: a, productId: 3, ip: '192.0.2.1', status: 'AUTHORISED', info, userAgent: null }, true));
    await wb.close();
    expect(errors).toEqual([]);
    const stored = (await logRows()).map((r) => r.info);
    if (name === 'postgres') {
      expect(stored).toEqual(['one', 'two', 'four', 'five']);
      expect(refused.map((r) => r.info)).toEqual(['nul \u0000 here']);
    } else {
      expect(stored).toEqual(infos); // SQLite stores NUL in text
      expect(refused).toEqual([]);
    }
    expect((await counters(a)).total_checks).toBe(5);
  });

  it('adds each license its checks and keeps the newest last check, even when an older batch lands later', async () => {
    const delta = (checks: number, lastCheckAt: number, lastIp: string): CounterDelta => ({ checks, lastCheckAt, lastIp });
    await internal.checkPath.authLogs.writeBatch([], new Map([[a, delta(5, 2000, '192.0.2.2')], [b, delta(1, 1000, '192.0.2.9')]]));
    // Another instance's older batch: counts add up, the newer last check stays.
    await internal.checkPath.authLogs.writeBatch([], new Map([[a, delta(3, 1500, '192.0.2.1')]]));
    await internal.checkPath.authLogs.writeBatch([], new Map([[b, delta(2, 3000, '192.0.2.3')]]));
    expect(await counters(a)).toEqual({ total_checks: 8, last_check_at: 2000, last_ip: '192.0.2.2' });
    expect(await counters(b)).toEqual({ total_checks: 3, last_check_at: 3000, last_ip: '192.0.2.3' });
  });

  // On SQLite the bad row is refused inside a multi-row INSERT (position 30: the first 64-row
  // statement, whose earlier rows are already in when it fails: `insert or fail`) or by a one-row
  // INSERT after the whole chunks (position 100); either way the transaction must undo everything.
  it.each([30, 100])('lands nothing of a batch that fails part-way (bad row at %i): no rows, no counters', async (at) => {
    const bad = { ...row(2, a), status: null } as unknown as AuthLogInsert; // status is NOT NULL
    const good = Array.from({ length: 100 }, (_, i) => row(i, a));
    const rows = [...good.slice(0, at), bad, ...good.slice(at)];
    await expect(internal.checkPath.authLogs.writeBatch(rows, new Map([[a, { checks: 101, lastCheckAt: 5, lastIp: '192.0.2.5' }]]))).rejects.toThrow();
    expect(await logRows()).toEqual([]);
    expect(await counters(a)).toEqual({ total_checks: 0, last_check_at: null, last_ip: null });
    // The same batch without the bad row then lands whole (what the write-behind's retry does).
    await internal.checkPath.authLogs.writeBatch(good, new Map([[a, { checks: 100, lastCheckAt: 5, lastIp: '192.0.2.5' }]]));
    expect(await logRows()).toEqual(good);
    expect((await counters(a)).total_checks).toBe(100);
  });

  it('waits for a transaction that is open, and is not undone when that transaction rolls back', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let opened!: () => void;
    const isOpen = new Promise<void>((r) => (opened = r));
    const failing = internal.storage.db.transaction().execute(async (trx) => {
      await trx.updateTable('licenses').set({ note: 'rolled back' }).where('id', '=', b).execute();
      opened();
      await held;
      throw new Error('roll back');
    });
    await isOpen;
    const write = internal.checkPath.authLogs.writeBatch([row(1, a), row(2, a)], new Map([[a, { checks: 2, lastCheckAt: 9, lastIp: '192.0.2.9' }]]));
    await new Promise((r) => setTimeout(r, 50));
    release();
    await expect(failing).rejects.toThrow('roll back');
    await write;
    expect(await logRows()).toHaveLength(2);
    expect(await counters(a)).toEqual({ total_checks: 2, last_check_at: 9, last_ip: '192.0.2.9' });
    const note = await internal.storage.db.selectFrom('licenses').select('note').where('id', '=', b).executeTakeFirstOrThrow();
    expect(note.note).toBeNull();
  });

  it('has no index on auth_logs that another one already covers (each costs every check a B-tree insert)', async () => {
    const names =
      name === 'sqlite'
        ? (await sql<{ name: string }>`select name from sqlite_master where type = 'index' and tbl_name = 'auth_logs' and sql is not null`.execute(internal.storage.db)).rows
        : (await sql<{ name: string }>`select indexname as name from pg_indexes where tablename = 'auth_logs' and schemaname = current_schema() and indexname <> 'auth_logs_pkey'`.execute(internal.storage.db)).rows;
    expect(names.map((r) => r.name).sort()).toEqual(['auth_logs_license_idx', 'auth_logs_product_time_idx', 'auth_logs_time_status_idx']);
  });

  // PostgreSQL parses and plans a named statement once per connection instead of on every batch.
  // One pooled connection here, so the statements the test reads are the ones the batch used.
  if (name === 'postgres') it('PostgreSQL: prepares the batch statements once per connection, and runs unnamed once a pooler loses them', async () => {
    const { default: pg } = await import('pg');
    const pool = new pg.Pool({ connectionString: db.env.DATABASE_URL, max: 1 });
    try {
      const repo = new AuthLogRepository({ db: internal.storage.db, dialect: 'postgres', sqlite: undefined, pgPool: pool });
      const prepared = async () =>
        (await pool.query<{ name: string }>("select name from pg_prepared_statements where name like 'keyward_%' order by name")).rows.map((r) => r.name);
      const one = (i: number) => new Map([[a, { checks: 1, lastCheckAt: 1_700_000_000_000 + i, lastIp: '192.0.2.1' }]]);
      await repo.writeBatch([row(1, a)], one(1));
      await repo.writeBatch([row(2, a)], one(2));
      await repo.writeBatch([row(3, null)], new Map());
      expect(await prepared()).toEqual(['keyward_auth_log_insert', 'keyward_auth_log_write']);

      // What a pooler in transaction mode does: the next statement reaches a server connection that
      // never saw the Parse, while node-postgres still believes it is prepared (26000 from the server).
      await pool.query('deallocate all');
      await repo.writeBatch([row(4, a)], one(4));
      await repo.writeBatch([row(5, a)], one(5));
      expect(await prepared()).toEqual([]);
      expect((await logRows()).map((r) => r.time)).toEqual([1, 2, 3, 4, 5].map((i) => row(i, a).time));
      expect(await counters(a)).toMatchObject({ total_checks: 4, last_check_at: 1_700_000_000_005 });
    } finally {
      await pool.end();
    }
  });
});
