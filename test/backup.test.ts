import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, freePort, runCli, startServerProcess, type CliResult, type ServerProcess } from './helpers/cli.js';
import { createSqlite, dialects, type TestDatabase } from './helpers/dialects.js';
import { request } from './helpers/http.js';

/** `keyward backup FILE` and `keyward restore FILE`, round trip while a server process runs. */

function expectOneLineError(res: CliResult, message: RegExp): void {
  expect(res.code, res.stderr).toBe(1);
  expect(res.stdout).toBe('');
  expect(res.stderr.trim().split('\n')).toHaveLength(1);
  expect(res.stderr).toMatch(/^keyward: /);
  expect(res.stderr).toMatch(message);
}

describe('keyward backup / restore (sqlite)', () => {
  let db: TestDatabase;
  let server: ServerProcess | undefined;
  let a: { id: number; key: string };
  let b: { id: number; key: string };
  const file = () => path.join(db.dir, 'backup.db');
  const check = async (key: string) =>
    (await request(server!.url, { path: '/api/check/8', headers: { Authorization: key } })).json.status as string;
  /** Polls until the running server answers `status`; returns how long that took. */
  const within = async (key: string, status: string) => {
    const start = Date.now();
    while ((await check(key)) !== status) {
      if (Date.now() - start > 3000) throw new Error(`still not ${status} after 3 s`);
      await new Promise((r) => setTimeout(r, 25));
    }
    return Date.now() - start;
  };

  beforeAll(async () => {
    db = await createSqlite();
    await cli(db.env, ['product', 'create', '--name', 'Script', '--id', '8']);
    a = await cli(db.env, ['license', 'create', '--product', '8']);
    b = await cli(db.env, ['license', 'create', '--product', '8']);
    server = await startServerProcess(db.env, await freePort());
  });
  afterAll(async () => {
    await server?.stop('SIGKILL');
    await db?.cleanup();
  });

  it('backs up while the server is answering and writing checks: a complete, checked, private, single file', async () => {
    let stop = false;
    let checks = 0;
    const traffic = (async () => {
      while (!stop) {
        await Promise.all(Array.from({ length: 8 }, () => check(a.key).then(() => checks++)));
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    const res = await runCli(db.env, ['backup', file(), '--json']);
    stop = true;
    await traffic;
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.json).toMatchObject({ file: file(), licenses: 2, bytes: statSync(file()).size });
    expect(checks).toBeGreaterThan(8);
    expect(statSync(file()).mode & 0o777).toBe(0o600);
    // One self-contained file: rollback journal mode, nothing beside it, intact.
    expect(readdirSync(db.dir).filter((f) => f.startsWith('backup.db'))).toEqual(['backup.db']);
    const copy = new BetterSqlite3(file(), { readonly: true });
    try {
      expect(copy.pragma('journal_mode', { simple: true })).toBe('delete');
      expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(copy.prepare('select count(*) as n from licenses').get()).toEqual({ n: 2 });
    } finally {
      copy.close();
    }
    // No clear key in the backup, as in the database.
    expect(readFileSync(file()).includes(a.key)).toBe(false);
  });

  it('never overwrites an existing file unless --force', async () => {
    expectOneLineError(await runCli(db.env, ['backup', file()]), /backup\.db already exists; choose another name or pass --force/);
    const res = await runCli(db.env, ['backup', file(), '--force']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^Backed up the database to .*backup\.db\.\n/);
    expect(res.stdout).toContain('Keep the server secret');
    expectOneLineError(await runCli(db.env, ['backup', path.join(db.dir, 'no-such-folder', 'x.db')]), /the folder .*no-such-folder does not exist/);
    expectOneLineError(await runCli(db.env, ['backup', db.file!]), /cannot be the database itself/);
  });

  it('refuses to restore while the server uses the database; with --force the running server answers from the restored data within 1 s', async () => {
    await cli(db.env, ['license', 'update', String(a.id), '--disabled', 'true']);
    await cli(db.env, ['license', 'delete', String(b.id)]);
    await within(a.key, 'KEY DISABLED');
    await within(b.key, 'NOT FOUND');

    expectOneLineError(await runCli(db.env, ['restore', file()]), /is in use by another process \(is `keyward serve` running\?\); stop it first, or pass --force/);
    expect(await check(a.key)).toBe('KEY DISABLED');

    const res = await runCli(db.env, ['restore', file(), '--force', '--json']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.json).toMatchObject({ database: db.file, licenses: 2, wasInUse: true, previous: expect.stringContaining('.before-restore-') });
    expect(existsSync(res.json.previous)).toBe(true);
    expect(await within(a.key, 'AUTHORISED')).toBeLessThan(1000);
    expect(await within(b.key, 'AUTHORISED')).toBeLessThan(1000);
    // The server keeps writing its check records into the restored database.
    const before = (await cli(db.env, ['license', 'show', String(b.id)])).totalChecks;
    for (let i = 0; i < 5; i++) await check(b.key);
    const deadline = Date.now() + 3000;
    while ((await cli(db.env, ['license', 'show', String(b.id)])).totalChecks < before + 5) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 100));
    }
    // The database as it was before the restore is kept, intact: license b deleted there.
    const previous = new BetterSqlite3(res.json.previous, { readonly: true });
    try {
      expect(previous.prepare('select count(*) as n from licenses').get()).toEqual({ n: 1 });
    } finally {
      previous.close();
    }
  });

  it('restores without --force once the server is stopped; the next start serves the restored data', async () => {
    expect(await server!.stop('SIGTERM')).toBe(0);
    server = undefined;
    await cli(db.env, ['license', 'delete', String(a.id)]);
    const res = await runCli(db.env, ['restore', file()]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^Restored .*backup\.db into .*keyward\.db \(2 licenses\)\.\n/);
    expect(res.stdout).toContain('Start the server when ready.');
    server = await startServerProcess(db.env, await freePort());
    expect(await check(a.key)).toBe('AUTHORISED');
    expect(await check(b.key)).toBe('AUTHORISED');
  });

  it('refuses files that are not a sound Keyward backup of this server, leaving the database alone', async () => {
    const write = (name: string, content: Buffer | string) => {
      const f = path.join(db.dir, name);
      writeFileSync(f, content);
      return f;
    };
    // A foreign SQLite database, a corrupted backup, a backup made with another secret.
    const foreign = path.join(db.dir, 'foreign.db');
    const other = new BetterSqlite3(foreign);
    other.exec('create table notes (id integer primary key, body text)');
    other.close();
    const damaged = Buffer.from(readFileSync(file()));
    damaged.fill(0x5a, 4096 * 3 + 100, 4096 * 3 + 2000);
    damaged.fill(0x5a, 4096 * 6 + 10, 4096 * 8);
    const stranger = await createSqlite();
    const strangerEnv = { ...stranger.env, KEYWARD_SECRET: 'another-secret-0123456789abcdef0123456789' };
    await cli(strangerEnv, ['product', 'create', '--name', 'X', '--id', '9']);
    await cli(strangerEnv, ['backup', path.join(db.dir, 'stranger.db')]);
    await stranger.cleanup();

    const cases: [string, RegExp][] = [
      [path.join(db.dir, 'missing.db'), /there is no file .*missing\.db/],
      [db.dir, /is a folder, not a backup file/],
      [write('text.db', 'just some text, not a database at all'.repeat(200)), /text\.db is not an SQLite database/],
      [write('damaged.db', damaged), /damaged\.db (failed SQLite's integrity check|is not an SQLite database)/],
      [foreign, /foreign\.db is not a Keyward database \(it has no kysely_migration table\)/],
      [path.join(db.dir, 'stranger.db'), /stranger\.db was made with a different server secret/],
    ];
    for (const [f, message] of cases) expectOneLineError(await runCli(db.env, ['restore', f, '--force']), message);
    expect(await check(a.key)).toBe('AUTHORISED');
    expect(readdirSync(db.dir).filter((f) => f.startsWith('.keyward-restore-'))).toEqual([]);
  });

  it('refuses to restore without the server secret instead of making up a new one', async () => {
    const fresh = await createSqlite();
    try {
      const { KEYWARD_SECRET: _secret, ...env } = fresh.env;
      expectOneLineError(await runCli(env, ['restore', file()]), /no server secret: put the secret\.key that belongs to the backup in/);
      expect(existsSync(path.join(fresh.dir, 'secret.key'))).toBe(false);
      // With the secret, a restore onto a new machine (no database yet) works.
      const res = await runCli(fresh.env, ['restore', file(), '--json']);
      expect(res.code).toBe(0);
      expect(res.json).toMatchObject({ licenses: 2, previous: null, wasInUse: false });
      expect((await cli(fresh.env, ['license', 'list'])).map((l: { id: number }) => l.id)).toEqual([a.id, b.id]);
    } finally {
      await fresh.cleanup();
    }
  });
});

describe.each(dialects().filter((d) => d.name === 'postgres'))('keyward backup / restore ($name)', ({ name, create }) => {
  if (!create) {
    it.skip(`${name} is not available here`, () => {});
    return;
  }
  it('says to use pg_dump / pg_restore, and exits 1', async () => {
    const db = await create();
    try {
      expectOneLineError(await runCli(db.env, ['backup', path.join(db.dir, 'x.db')]), /works with SQLite only; for PostgreSQL use pg_dump, e\.g\. pg_dump --format=custom/);
      expectOneLineError(await runCli(db.env, ['restore', path.join(db.dir, 'x.db')]), /works with SQLite only; for PostgreSQL use pg_restore/);
      expect(existsSync(path.join(db.dir, 'x.db'))).toBe(false);
    } finally {
      await db.cleanup();
    }
  });
});
