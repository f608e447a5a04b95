import pg from 'pg';
import type { TestProject } from 'vitest/node';

const DEFAULT_PG = 'postgres://postgres@127.0.0.1:5432/test';

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string | null;
  }
}

/**
 * Decides once whether the PostgreSQL suites run. TEST_DATABASE_URL set: they run, and an
 * unreachable server fails the run. Unset: the local default server is tried, and if none
 * answers only the PostgreSQL suites are skipped, with a line saying so.
 */
export default async function setup(project: TestProject): Promise<void> {
  const explicit = process.env.TEST_DATABASE_URL;
  const url = explicit || DEFAULT_PG;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    project.provide('pgUrl', url);
  } catch (err) {
    if (explicit) throw new Error(`TEST_DATABASE_URL=${explicit} is unreachable: ${(err as Error).message}`);
    process.stdout.write(`\n[keyward tests] No PostgreSQL at ${DEFAULT_PG} and TEST_DATABASE_URL unset: skipping the PostgreSQL suites.\n\n`);
    project.provide('pgUrl', null);
  } finally {
    await client.end().catch(() => {});
  }
}
