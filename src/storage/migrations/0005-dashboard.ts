import type { Kysely } from 'kysely';
import { idColumn, type Dialect } from './helpers.js';

/** The dashboard: sign-in sessions, failed sign-ins (throttling), two-factor columns on users. */
export function dashboard(dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('sessions')
        .addColumn('id', ...idColumn(dialect))
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('stage', 'text', (c) => c.notNull().defaultTo('full'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('ip', 'text')
        .addColumn('user_agent', 'text')
        .execute();
      await db.schema.createIndex('sessions_user_idx').on('sessions').column('user_id').execute();
      await db.schema.createIndex('sessions_expires_idx').on('sessions').column('expires_at').execute();

      await db.schema
        .createTable('sign_in_failures')
        .addColumn('id', ...idColumn(dialect, true))
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('time', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('sign_in_failures_scope_idx').on('sign_in_failures').columns(['scope', 'time']).execute();

      await db.schema.alterTable('users').addColumn('totp_secret', 'text').execute();
      await db.schema.alterTable('users').addColumn('totp_enabled', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('users').addColumn('totp_last_step', 'bigint').execute();

      // Previous Auths by time and result: the dashboard's per-day charts and top failures read only this index.
      await db.schema.createIndex('auth_logs_time_status_idx').on('auth_logs').columns(['time', 'status']).execute();
    },
  };
}
