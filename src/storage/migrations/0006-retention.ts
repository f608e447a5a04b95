import type { Kysely } from 'kysely';

/**
 * Daily check counts that outlive pruned Previous Auths (AUTH_LOG_RETENTION_DAYS): one row per
 * UTC day, license, product and status. 0 stands for "no license" / "no product" so the
 * primary key can take part in upserts (NULLs never conflict).
 */
export const retention = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('auth_log_daily')
      .addColumn('day', 'integer', (c) => c.notNull())
      .addColumn('license_id', 'integer', (c) => c.notNull())
      .addColumn('product_id', 'integer', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('checks', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('auth_log_daily_pk', ['day', 'license_id', 'product_id', 'status'])
      .execute();
    await db.schema.createIndex('auth_log_daily_license_idx').on('auth_log_daily').columns(['license_id', 'day']).execute();
    await db.schema.createIndex('auth_log_daily_product_idx').on('auth_log_daily').columns(['product_id', 'day']).execute();
    // Per-product charts read live rows by product and time.
    await db.schema.createIndex('auth_logs_product_time_idx').on('auth_logs').columns(['product_id', 'time']).execute();
  },
};
