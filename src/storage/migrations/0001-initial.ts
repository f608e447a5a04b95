import type { Kysely } from 'kysely';
import { idColumn, type Dialect } from './helpers.js';

/** The first schema: users, products, licenses (+ their products), Previous Auths, audit log. */
export function initial(dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('users')
        .addColumn('id', ...idColumn(dialect))
        .addColumn('username', 'text', (c) => c.notNull().unique())
        .addColumn('email', 'text')
        .addColumn('password_hash', 'text')
        .addColumn('discord_id', 'text', (c) => c.unique())
        .addColumn('role', 'text', (c) => c.notNull().defaultTo('customer'))
        .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('products')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('licenses')
        .addColumn('id', ...idColumn(dialect))
        .addColumn('key_digest', 'text', (c) => c.notNull().unique())
        .addColumn('key_cipher', 'text', (c) => c.notNull())
        .addColumn('owner_id', 'integer', (c) => c.references('users.id').onDelete('set null'))
        .addColumn('active', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('ip_locked', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('ips', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('expires_at', 'bigint')
        .addColumn('note', 'text')
        .addColumn('total_checks', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('last_check_at', 'bigint')
        .addColumn('last_ip', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('licenses_owner_idx').on('licenses').column('owner_id').execute();

      await db.schema
        .createTable('license_products')
        .addColumn('license_id', 'integer', (c) => c.notNull().references('licenses.id').onDelete('cascade'))
        .addColumn('product_id', 'integer', (c) => c.notNull().references('products.id').onDelete('restrict'))
        .addColumn('position', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('license_products_pk', ['license_id', 'product_id'])
        .execute();
      await db.schema.createIndex('license_products_product_idx').on('license_products').column('product_id').execute();

      // Previous Auths outlive the licenses they mention, so no foreign keys here.
      await db.schema
        .createTable('auth_logs')
        .addColumn('id', ...idColumn(dialect, true))
        .addColumn('time', 'bigint', (c) => c.notNull())
        .addColumn('license_id', 'integer')
        .addColumn('product_id', 'integer')
        .addColumn('ip', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('info', 'text')
        .addColumn('user_agent', 'text')
        .execute();
      await db.schema.createIndex('auth_logs_license_idx').on('auth_logs').columns(['license_id', 'id']).execute();
      await db.schema.createIndex('auth_logs_time_idx').on('auth_logs').column('time').execute();

      await db.schema
        .createTable('audit_logs')
        .addColumn('id', ...idColumn(dialect, true))
        .addColumn('time', 'bigint', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target_type', 'text', (c) => c.notNull())
        .addColumn('target_id', 'text')
        .addColumn('before', 'text')
        .addColumn('after', 'text')
        .execute();
      await db.schema.createIndex('audit_logs_time_idx').on('audit_logs').column('time').execute();
    },
  };
}
