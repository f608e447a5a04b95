import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, inject, it } from 'vitest';

/**
 * Suites send many misses from 127.0.0.1, and deliver webhooks to a receiver on 127.0.0.1; the
 * brake and the webhook target rules have their own tests, which turn them back on.
 */
const SUITE_DEFAULTS = { CHECK_FAIL_LIMIT: '0', WEBHOOK_ALLOW_PRIVATE: 'true' };

export const TEST_SECRET = 'test-secret-0123456789abcdef0123456789abcdef';

/** A fresh, empty database of one dialect and the environment that points Keyward at it. */
export interface TestDatabase {
  dialect: 'sqlite' | 'postgres';
  env: Record<string, string>;
  dir: string;
  /** SQLite only: the database file. */
  file?: string;
  /** PostgreSQL only: the schema this database lives in. */
  schema?: string;
  cleanup(): Promise<void>;
}

export interface DialectCase {
  name: 'sqlite' | 'postgres';
  /** Null when this dialect cannot run here (PostgreSQL with no server and no TEST_DATABASE_URL). */
  create: (() => Promise<TestDatabase>) | null;
}

/** The dialects every cross-dialect suite runs on: `describe.each(dialects())`. */
export function dialects(): DialectCase[] {
  const pgUrl = inject('pgUrl');
  return [
    { name: 'sqlite', create: createSqlite },
    { name: 'postgres', create: pgUrl ? () => createPostgres(pgUrl) : null },
  ];
}

/**
 * `describe.each` over the dialects: `body` gets the dialect's database factory and name. A
 * dialect that cannot run here (PostgreSQL with no server) is one skipped test, not a silent pass.
 */
export function describeEachDialect(title: string, body: (create: () => Promise<TestDatabase>, name: DialectCase['name']) => void): void {
  describe.each(dialects())(title, ({ name, create }) => {
    if (!create) {
      it.skip(`${name} is not available here`, () => {});
      return;
    }
    body(create, name);
  });
}

export async function createSqlite(): Promise<TestDatabase> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'keyward-test-'));
  const file = path.join(dir, 'keyward.db');
  return {
    dialect: 'sqlite',
    dir,
    file,
    env: { DATABASE_URL: `sqlite:${file}`, DATA_DIR: dir, KEYWARD_SECRET: TEST_SECRET, LOG_LEVEL: 'silent', ...SUITE_DEFAULTS },
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Each PostgreSQL test database is its own schema, dropped afterwards. */
export async function createPostgres(baseUrl: string): Promise<TestDatabase> {
  const schema = `kw_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'keyward-test-'));
  return {
    dialect: 'postgres',
    dir,
    schema,
    env: { DATABASE_URL: url.toString(), DATA_DIR: dir, KEYWARD_SECRET: TEST_SECRET, LOG_LEVEL: 'silent', ...SUITE_DEFAULTS },
    cleanup: async () => {
      const c = new pg.Client({ connectionString: baseUrl });
      await c.connect();
      await c.query(`drop schema if exists ${schema} cascade`);
      await c.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
