import { statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { createSqlite, type TestDatabase, describeEachDialect } from './helpers/dialects.js';

describeEachDialect('the server secret ($name)', (create) => {
  let db: TestDatabase | undefined;
  afterAll(async () => db?.cleanup());

  it('refuses to run against a database created with another secret, and changes nothing', async () => {
    db = await create();
    expect((await runCli(db.env, ['product', 'create', '--name', 'A', '--id', '1', '--json'])).code).toBe(0);
    const other = { ...db.env, KEYWARD_SECRET: 'another-secret-another-secret-another-secret' };
    const res = await runCli(other, ['license', 'create', '--product', '1', '--json']);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(/^keyward: the server secret does not match/);
    const list = await runCli(db.env, ['license', 'list', '--json']);
    expect(list.json).toEqual([]);
  });
});

describe('the generated secret file', () => {
  it('is created once with mode 0600 and reused by later runs', async () => {
    const db = await createSqlite();
    try {
      const env = { ...db.env };
      delete (env as Record<string, string | undefined>).KEYWARD_SECRET;
      expect((await runCli(env, ['migrate', '--json'])).json).toEqual({ ok: true });
      const file = path.join(db.dir, 'secret.key');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const again = await runCli(env, ['product', 'list', '--json']);
      expect(again.code).toBe(0);
      expect(again.json).toEqual([]);
    } finally {
      await db.cleanup();
    }
  });
});
