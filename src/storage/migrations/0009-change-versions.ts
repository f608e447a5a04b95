import type { Kysely } from 'kysely';
import type { Dialect } from './helpers.js';

/**
 * SQLite only: one version per change-feed topic, bumped by every change to it, so a process polls
 * which topics moved rather than SQLite's data_version, which every commit moves (Previous Auths
 * batches included). PostgreSQL carries the topics in its NOTIFY payload and needs no table.
 */
export function changeVersions(dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      if (dialect !== 'sqlite') return;
      await db.schema
        .createTable('change_versions')
        .addColumn('topic', 'text', (c) => c.primaryKey())
        .addColumn('version', 'integer', (c) => c.notNull())
        .execute();
      const topics = ['licenses', 'products', 'tokens', 'signing-keys', 'webhooks', 'users'];
      await db.insertInto('change_versions').values(topics.map((topic) => ({ topic, version: 0 }))).execute();
    },
  };
}
