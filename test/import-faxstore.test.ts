import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyCipher } from '../src/licensing/key.js';
import { runCli, type CliResult } from './helpers/cli.js';
import { createSqlite, TEST_SECRET, type TestDatabase, describeEachDialect } from './helpers/dialects.js';
import { buildFixture, createFixtureDatabase, type Expected, type Fixture, type FixtureDatabase } from './helpers/faxstore-fixture.js';
import { request } from './helpers/http.js';
import { resolveMysqlUrl } from './helpers/mysql.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * `keyward import faxstore --from mysql://…` against a real MariaDB holding a FaxStore data set
 * with the odd rows real ones have; afterwards every key checks through the HTTP API.
 */

const mysqlUrl = await resolveMysqlUrl();
const ROWS = 3000;
const fixture: Fixture = buildFixture(ROWS);
const importedRows = [...fixture.expected].filter(([, e]) => !e.skip);
const skippedRows = [...fixture.expected].filter(([, e]) => e.skip);

async function importCli(env: Record<string, string>, args: string[]): Promise<CliResult> {
  return runCli(env, ['import', 'faxstore', ...args]);
}

/** Runs `work` over `items`, `width` at a time. */
async function pool<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

/** No clear key of the fixture may appear in any output. */
function expectNoKeys(text: string): void {
  const keys = new Set(importedRows.map(([, e]) => e.key));
  const leaked = (text.match(/[A-Za-z0-9_-]{8,}/g) ?? []).filter((token) => keys.has(token));
  expect(leaked).toEqual([]);
}

describe.skipIf(!mysqlUrl)('keyward import faxstore --from mysql://', () => {
  let source: FixtureDatabase;
  beforeAll(async () => {
    source = await createFixtureDatabase(mysqlUrl!, fixture);
  });
  afterAll(async () => {
    await source?.drop();
  });

  describeEachDialect('into $name', (create) => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer(await create());
    });
    afterAll(async () => {
      await server?.close();
      await server?.db.cleanup();
    });
    /** Checks that found the license, per key: each adds one to its `totalChecks` (written behind). */
    const counted = new Map<string, number>();
    const check = async (key: string, productId: number) => {
      const status = (await request(server.url, { path: `/api/check/${productId}?log=false`, headers: { Authorization: key } })).json.status as string;
      if (status !== 'NOT FOUND') counted.set(key, (counted.get(key) ?? 0) + 1);
      return status;
    };

    it('imports every good row, reports each bad one by id and reason, and a running server answers the new keys within 1 s', async () => {
      // The running server has cached these keys as unknown.
      const watched = importedRows.filter(([, e]) => e.status === 'AUTHORISED').slice(0, 3);
      for (const [, e] of watched) expect(await check(e.key, e.productId)).toBe('NOT FOUND');

      const res = await importCli(server.db.env, ['--from', source.url, '--json']);
      const done = Date.now();
      expect(res.stderr).not.toMatch(/^keyward:/m);
      expect(res.code).toBe(0);
      const summary = res.json;
      expect(summary).toMatchObject({
        source: expect.stringMatching(/^mysql:\/\/root@127\.0\.0\.1:3306\/kw_fx_/),
        dryRun: false,
        rows: ROWS,
        licenses: { imported: importedRows.length, alreadyPresent: 0, skipped: skippedRows.length },
        products: { created: [8, 16, 23, 42, 77, 2147483647], existing: [] },
      });
      // Every skipped row is named with its FaxStore id and why.
      expect(summary.skipped.map((s: { id: number; code: string }) => [s.id, s.code])).toEqual(skippedRows.map(([id, e]) => [id, e.skip]));
      for (const s of summary.skipped) expect(s.reason.length).toBeGreaterThan(10);
      expect(new Set(skippedRows.map(([, e]) => e.skip))).toEqual(new Set(['invalid_key', 'no_product', 'invalid_product', 'duplicate_key']));
      expect(summary.warnings.some((w: { code: string }) => w.code === 'ip')).toBe(true);
      expect(summary.warnings.some((w: { code: string }) => w.code === 'last_request')).toBe(true);
      expect(summary.warnings.some((w: { code: string }) => w.code === 'product_name')).toBe(true);
      // Plain progress lines, not a bar, when stderr is not a terminal.
      expect(res.stderr).toMatch(/^reading: 3000\/3000 rows \(100%\)$/m);
      expect(res.stderr).toMatch(new RegExp(`^importing: ${importedRows.length}/${importedRows.length} rows \\(100%\\)$`, 'm'));
      expectNoKeys(res.stdout + res.stderr);

      for (const [, e] of watched) {
        while ((await check(e.key, e.productId)) !== 'AUTHORISED') {
          expect(Date.now() - done, 'imported key still unknown to the running server').toBeLessThan(1000);
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    });

    it('stores each license exactly: key (digest + ciphertext), product, flags, IP lock, counters, owner, note', async () => {
      const db = server.internal.storage.db;
      // The checks above reach the counters within LOG_FLUSH_MS: read once they have.
      await server.flush();
      const rows = await db
        .selectFrom('licenses')
        .leftJoin('users', 'users.id', 'licenses.owner_id')
        .selectAll('licenses')
        .select(['users.username', 'users.discord_id', 'users.password_hash', 'users.role'])
        .execute();
      const links = await db.selectFrom('license_products').selectAll().execute();
      const productsOf = new Map(links.map((l) => [l.license_id, l.product_id]));
      const cipher = new KeyCipher(TEST_SECRET);
      const byKey = new Map(rows.map((r) => [cipher.decrypt(r.key_cipher), r]));
      expect(rows.length).toBe(importedRows.length);
      const owners = new Map<string, number>();
      for (const [id, e] of importedRows) {
        const r = byKey.get(e.key);
        expect(r, `FaxStore license #${id}`).toBeDefined();
        const got = {
          productId: productsOf.get(r!.id),
          active: r!.active === 1,
          disabled: r!.disabled === 1,
          ipLocked: r!.ip_locked === 1,
          ips: JSON.parse(r!.ips),
          totalChecks: r!.total_checks,
          lastCheckAt: r!.last_check_at,
          note: r!.note,
        };
        const want: Partial<Expected> & { note: string } = {
          productId: e.productId,
          active: e.active,
          disabled: e.disabled,
          ipLocked: e.ipLocked,
          ips: e.ips,
          totalChecks: e.totalChecks + (counted.get(e.key) ?? 0),
          lastCheckAt: counted.has(e.key) ? (expect.any(Number) as unknown as number) : e.lastCheckAt,
          note: expect.stringMatching(new RegExp(`^Imported from FaxStore license #${id}( \\(owned item \\d+\\))?$`)) as unknown as string,
        };
        expect(got, `FaxStore license #${id}`).toEqual(want);
        if (e.owner === null) expect(r!.owner_id, `owner of #${id}`).toBeNull();
        else if ('discordId' in e.owner) expect(r!.discord_id, `owner of #${id}`).toBe(e.owner.discordId);
        else expect(r!.username, `owner of #${id}`).toBe(e.owner.username);
        if (r!.owner_id !== null) {
          // Imported owners are customers without a password (they sign in with Discord).
          expect([r!.role, r!.password_hash]).toEqual(['customer', null]);
          owners.set(r!.username!, r!.owner_id);
        }
      }
      // Same-named FaxStore users stay different Keyward users; unknown ones are named after their id.
      expect(owners.has('sam')).toBe(true);
      expect([...owners.keys()].filter((u) => /^sam-\d{4}$/.test(u)).length).toBe(2);
      expect([...owners.keys()].some((u) => /^discord-\d{17,20}$/.test(u))).toBe(true);
      // No key is stored in clear anywhere.
      for (const r of rows.slice(0, 50)) {
        const key = cipher.decrypt(r.key_cipher);
        expect(JSON.stringify(r)).not.toContain(key);
      }
      // Products are named after FaxStore's most used name, long names cut to 200 characters.
      const products = await db.selectFrom('products').select(['id', 'name']).orderBy('id').execute();
      expect(products).toEqual([...fixture.productNames].map(([id, productName]) => ({ id, name: productName })));
      // One audit entry for the whole run.
      const audit = await db.selectFrom('audit_logs').selectAll().where('action', '=', 'import.faxstore').execute();
      expect(audit).toHaveLength(1);
      expect(JSON.parse(audit[0]!.after!)).toMatchObject({ imported: importedRows.length, skipped: skippedRows.length });
    });

    it('every imported key checks with the right status through the HTTP API; skipped keys are unknown', async () => {
      const wrong: string[] = [];
      await pool(importedRows, 16, async ([id, e]) => {
        const status = await check(e.key, e.productId);
        if (status !== e.status) wrong.push(`#${id}: ${status}, expected ${e.status}`);
      });
      expect(wrong).toEqual([]);
      // A handful only: many NOT FOUND answers from one IP would be rate limited.
      const unknown = skippedRows.filter(([, e]) => e.skip === 'no_product' && e.key.length >= 8).slice(0, 5);
      for (const [, e] of unknown) expect(await check(e.key, 8)).toBe('NOT FOUND');
    });

    it('a second run changes nothing: no duplicates, everything reported as already there', async () => {
      const db = server.internal.storage.db;
      const count = async (table: 'licenses' | 'users' | 'products' | 'license_products') =>
        Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
      const before = [await count('licenses'), await count('users'), await count('products'), await count('license_products')];
      const res = await importCli(server.db.env, ['--from', source.url, '--json', '--quiet']);
      expect(res.code).toBe(0);
      expect(res.stderr).toBe('');
      expect(res.json).toMatchObject({
        licenses: { imported: 0, alreadyPresent: importedRows.length, skipped: skippedRows.length },
        products: { created: [], existing: [8, 16, 23, 42, 77, 2147483647] },
        users: { created: 0 },
      });
      expect([await count('licenses'), await count('users'), await count('products'), await count('license_products')]).toEqual(before);
    });
  });

  describe('--dry-run', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createSqlite();
    });
    afterAll(async () => {
      await db?.cleanup();
    });

    it('reports exactly what the import will do and writes nothing', async () => {
      const dry = await importCli(db.env, ['--from', source.url, '--dry-run', '--json', '--quiet']);
      expect(dry.code).toBe(0);
      const server = await startTestServer(db);
      try {
        const q = server.internal.storage.db;
        for (const table of ['licenses', 'users', 'products', 'audit_logs'] as const) {
          const { n } = await q.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
          expect(Number(n), table).toBe(0);
        }
      } finally {
        await server.close();
      }
      const real = await importCli(db.env, ['--from', source.url, '--json', '--quiet']);
      const comparable = (s: Record<string, unknown>) => ({ ...s, dryRun: null, durationMs: null });
      expect(dry.json.dryRun).toBe(true);
      expect(comparable(dry.json)).toEqual(comparable(real.json));

      const again = await importCli(db.env, ['--from', source.url, '--dry-run']);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('dry run: nothing was written');
      expect(again.stdout).toMatch(/licenses imported \(would be\):\s+0\n/);
      expect(again.stdout).toMatch(new RegExp(`already in Keyward:\\s+${importedRows.length}\\n`));
      expect(again.stdout).toMatch(/#5\s+authKey is empty/);
      expectNoKeys(again.stdout + again.stderr);
    });

    it('refuses a bad URL, a database that is not FaxStore, and an unknown --default-product, with one line each', async () => {
      const cases: [string[], RegExp][] = [
        [['--from', 'postgres://x@y/z'], /--from must start with mysql:\/\//],
        [['--from', mysqlUrl!.replace(/\/[^/]*$/, '/')], /--from must name the FaxStore database/],
        [['--from', mysqlUrl!], /has no licensesystem table; is it a FaxStore database\?/],
        [['--from', 'mysql://root:secretpw@127.0.0.1:1/faxstore'], /cannot connect to the FaxStore database at mysql:\/\/root@127\.0\.0\.1:1\/faxstore/],
        [['--from', source.url, '--default-product', '999'], /--default-product 999: no such product/],
        [['--from', source.url, '--from-csv', 'x.csv'], /exactly one of --from/],
        [[], /exactly one of --from/],
      ];
      for (const [args, message] of cases) {
        const res = await importCli(db.env, [...args, '--quiet']);
        expect(res.code, args.join(' ')).toBe(1);
        expect(res.stdout).toBe('');
        expect(res.stderr.trim().split('\n')).toHaveLength(1);
        expect(res.stderr).toMatch(/^keyward: /);
        expect(res.stderr).toMatch(message);
        expect(res.stderr).not.toContain('secretpw');
      }
    });
  });
});
