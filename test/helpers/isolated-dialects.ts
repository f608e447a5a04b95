import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, inject, it } from 'vitest';
import { createSqlite, TEST_SECRET, type DialectCase, type TestDatabase } from './dialects.js';

/**
 * A PostgreSQL database of its own, for suites that assert what the change feed did not say:
 * NOTIFY reaches every listener of a database whatever its schema, so on the shared test
 * database other suites' changes would be heard too.
 */
export async function createOwnPostgres(baseUrl: string): Promise<TestDatabase> {
  const name = `kw_feed_${randomBytes(6).toString('hex')}`;
  const admin = async (text: string) => {
    const c = new pg.Client({ connectionString: baseUrl });
    await c.connect();
    try {
      await c.query(text);
    } finally {
      await c.end();
    }
  };
  await admin(`create database ${name}`);
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'keyward-test-'));
  return {
    dialect: 'postgres',
    dir,
    env: { DATABASE_URL: url.toString(), DATA_DIR: dir, KEYWARD_SECRET: TEST_SECRET, LOG_LEVEL: 'silent', CHECK_FAIL_LIMIT: '0', WEBHOOK_ALLOW_PRIVATE: 'true' },
    cleanup: async () => {
      await admin(`drop database if exists ${name} with (force)`);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** describeEachDialect, with PostgreSQL in a database of its own. */
export function describeEachIsolatedDialect(title: string, body: (create: () => Promise<TestDatabase>, name: DialectCase['name']) => void): void {
  const pgUrl = inject('pgUrl');
  const cases: DialectCase[] = [
    { name: 'sqlite', create: createSqlite },
    { name: 'postgres', create: pgUrl ? () => createOwnPostgres(pgUrl) : null },
  ];
  describe.each(cases)(title, ({ name, create }) => {
    if (!create) {
      it.skip(`${name} is not available here`, () => {});
      return;
    }
    body(create, name);
  });
}
