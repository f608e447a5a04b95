import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { dialects } from './helpers/dialects.js';
import { buildFixture, createFixtureDatabase, type FixtureDatabase } from './helpers/faxstore-fixture.js';
import { resolveMysqlUrl } from './helpers/mysql.js';

/**
 * The import at scale, measured: opt-in, as it takes a while.
 *   KEYWARD_IMPORT_SCALE=100000 npx vitest run test/import-scale.test.ts
 * Prints the wall time of `keyward import faxstore` (the whole CLI process) per target database.
 */

const rows = Number(process.env.KEYWARD_IMPORT_SCALE ?? 0);
const mysqlUrl = rows > 0 ? await resolveMysqlUrl() : null;
// The promise of docs/import.md ("How fast") with room to spare: 100,000 rows in under 60 s on 2 cores.
const BUDGET_MS = 60_000;

describe.skipIf(!rows || !mysqlUrl)(`import of ${rows} FaxStore rows`, () => {
  let source: FixtureDatabase;
  // About five licenses per buyer.
  const fixture = buildFixture(rows || 1, 7, Math.max(400, Math.floor(rows / 5)));
  const expected = [...fixture.expected.values()].filter((e) => !e.skip).length;
  beforeAll(async () => {
    source = await createFixtureDatabase(mysqlUrl!, fixture);
  }, 300_000);
  afterAll(async () => {
    await source?.drop();
  });

  for (const { name, create } of dialects()) {
    it.skipIf(!create)(`into ${name}: under ${BUDGET_MS / 1000} s`, async () => {
      const db = await create!();
      try {
        const started = Date.now();
        const res = await runCli(db.env, ['import', 'faxstore', '--from', source.url, '--json', '--quiet']);
        const wall = Date.now() - started;
        expect(res.stderr).toBe('');
        expect(res.json.licenses.imported).toBe(expected);
        process.stdout.write(
          `\n[import scale] ${rows} rows into ${name}: ${(wall / 1000).toFixed(1)} s wall (importer ${(res.json.durationMs / 1000).toFixed(1)} s), ${expected} licenses, ${res.json.users.created} users\n`,
        );
        expect(wall).toBeLessThan(BUDGET_MS);
      } finally {
        await db.cleanup();
      }
    }, 300_000);
  }
});
