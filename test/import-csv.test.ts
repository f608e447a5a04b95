import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { createSqlite, type TestDatabase, describeEachDialect } from './helpers/dialects.js';
import { buildFixture, toCsv } from './helpers/faxstore-fixture.js';
import { request } from './helpers/http.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/** `keyward import faxstore --from-csv FILE`: the same import from a CSV export of `licensesystem`. */

const fixture = buildFixture(600, 7);
const imported = [...fixture.expected].filter(([, e]) => !e.skip);
const skipped = [...fixture.expected].filter(([, e]) => e.skip);

describeEachDialect('keyward import faxstore --from-csv ($name)', (create) => {
  let server: TestServer;
  let file: string;
  beforeAll(async () => {
    server = await startTestServer(await create());
    file = path.join(server.db.dir, 'licensesystem.csv');
    writeFileSync(file, toCsv(fixture));
  });
  afterAll(async () => {
    await server?.close();
    await server?.db.cleanup();
  });
  const check = async (key: string, productId: number) =>
    (await request(server.url, { path: `/api/check/${productId}?log=false`, headers: { Authorization: key } })).json.status as string;

  it('imports a quoted, BOM-prefixed, CRLF CSV with \\N nulls; every key then checks with the right status', async () => {
    const res = await runCli(server.db.env, ['import', 'faxstore', '--from-csv', file, '--json', '--quiet']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.json).toMatchObject({
      source: 'csv:licensesystem.csv',
      rows: 600,
      licenses: { imported: imported.length, alreadyPresent: 0, skipped: skipped.length },
    });
    expect(res.json.skipped.map((s: { id: number; line: number; code: string }) => [s.id, s.code])).toEqual(skipped.map(([id, e]) => [id, e.skip]));
    expect(res.json.skipped[0].line).toBeGreaterThan(1);

    const wrong: string[] = [];
    for (let i = 0; i < imported.length; i += 16) {
      await Promise.all(
        imported.slice(i, i + 16).map(async ([id, e]) => {
          const status = await check(e.key, e.productId);
          if (status !== e.status) wrong.push(`#${id}: ${status}, expected ${e.status}`);
        }),
      );
    }
    expect(wrong).toEqual([]);
    // Owners come from the CSV's username column.
    const names = (await server.services.users.list({ limit: 10_000 })).map((u) => u.username);
    expect(names).toContain('legacy');
    expect(names.some((n) => /^user_\d+$/.test(n))).toBe(true);
    const products = await server.services.products.list();
    expect(products.find((p) => p.id === 16)?.name).toBe('Fancy Car Pack, "Deluxe"');
  });

  it('--default-product imports the productId 0 keys for that product on a second run, adding nothing else', async () => {
    // The rule again with productId 0 read as 16: in id order, the first row with a key wins.
    const stored = new Set(imported.map(([, e]) => e.key));
    const winners = new Set<string>();
    let duplicates = 0;
    let invalid = 0;
    const expected: typeof imported = [];
    for (const [id, e] of fixture.expected) {
      if (e.skip === 'invalid_key' || e.skip === 'invalid_product') invalid++;
      else if (winners.has(e.key)) duplicates++;
      else {
        winners.add(e.key);
        if (!stored.has(e.key)) expected.push([id, { ...e, productId: e.productId || 16 }]);
      }
    }
    expect(expected.length).toBeGreaterThan(5);
    const res = await runCli(server.db.env, ['import', 'faxstore', '--from-csv', file, '--default-product', '16', '--json', '--quiet']);
    expect(res.code).toBe(0);
    expect(res.json.licenses).toEqual({ imported: expected.length, alreadyPresent: winners.size - expected.length, skipped: invalid + duplicates });
    for (const [, e] of expected) expect(await check(e.key, e.productId)).toBe(e.status);
  });
});

describe('keyward import faxstore --from-csv: bad files', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createSqlite();
  });
  afterAll(async () => {
    await db?.cleanup();
  });

  it('refuses a missing file, a header without authKey/productId, and broken quoting, with one line each', async () => {
    const write = (name: string, content: string) => {
      const file = path.join(db.dir, name);
      writeFileSync(file, content);
      return file;
    };
    const cases: [string, RegExp][] = [
      [path.join(db.dir, 'missing.csv'), /cannot read .*missing\.csv: ENOENT/],
      [write('empty.csv', ''), /empty\.csv is empty; it needs a header line/],
      [write('header.csv', 'id,key,product\n1,abcdefghij,8\n'), /header\.csv: the header line has no authKey or productId column/],
      [write('quote.csv', 'authKey,productId\n"abcdefghij,8\n'), /quote\.csv: CSV line 2: a quoted field is never closed/],
    ];
    for (const [file, message] of cases) {
      const res = await runCli(db.env, ['import', 'faxstore', '--from-csv', file, '--quiet']);
      expect(res.code, file).toBe(1);
      expect(res.stdout).toBe('');
      expect(res.stderr.trim().split('\n')).toHaveLength(1);
      expect(res.stderr).toMatch(message);
    }
  });

  it('names rows of a CSV without an id column by their line', async () => {
    const file = path.join(db.dir, 'noid.csv');
    writeFileSync(file, 'productId;authKey;authStatus\n8;good-key-0123456789;1\n8;bad;1\n0;other-key-0123456789;1\n');
    const res = await runCli(db.env, ['import', 'faxstore', '--from-csv', file, '--dry-run', '--quiet']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/line 3\s+authKey rejected: a license key must be at least 8 characters/);
    expect(res.stdout).toMatch(/line 4\s+productId is 0/);
    expect(res.stdout).toMatch(/licenses imported \(would be\):\s+1\n/);
  });
});
