import type { Kysely } from 'kysely';
import { idColumn, type Dialect } from './helpers.js';

/**
 * Policies (templates for licenses: products, duration, machine limits) and machines (the devices
 * or servers a license runs on), with what a license adds: the policy it names, its own machine
 * limit, and a first-use expiry still to start. docs/machines.md.
 */
export function policiesMachines(dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('policies')
        .addColumn('id', ...idColumn(dialect))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('duration_days', 'integer')
        .addColumn('expiry_basis', 'text', (c) => c.notNull().defaultTo('issued'))
        .addColumn('max_machines', 'integer')
        .addColumn('machine_identity', 'text', (c) => c.notNull().defaultTo('fingerprint'))
        .addColumn('auto_activate', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('heartbeat_seconds', 'integer')
        .addColumn('deactivations_per_day', 'integer', (c) => c.notNull().defaultTo(3))
        // A JSON array of feature codes, and the usage limit: read by entitlement and usage checks.
        .addColumn('entitlements', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('max_uses', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('policy_products')
        .addColumn('policy_id', 'integer', (c) => c.notNull().references('policies.id').onDelete('cascade'))
        .addColumn('product_id', 'integer', (c) => c.notNull().references('products.id').onDelete('restrict'))
        .addColumn('position', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('policy_products_pk', ['policy_id', 'product_id'])
        .execute();
      await db.schema.createIndex('policy_products_product_idx').on('policy_products').column('product_id').execute();

      // No foreign key from licenses to policies: SQLite cannot add one to an existing table. The
      // policy service refuses to delete a policy that licenses name, inside the delete's transaction.
      await db.schema.alterTable('licenses').addColumn('policy_id', 'integer').execute();
      await db.schema.alterTable('licenses').addColumn('max_machines', 'integer').execute();
      await db.schema.alterTable('licenses').addColumn('first_use_days', 'integer').execute();
      await db.schema.createIndex('licenses_policy_idx').on('licenses').column('policy_id').execute();
      // Client endpoints' calls are Previous Auths too, marked with the endpoint.
      await db.schema.alterTable('auth_logs').addColumn('endpoint', 'text').execute();

      await db.schema
        .createTable('machines')
        .addColumn('id', ...idColumn(dialect))
        .addColumn('license_id', 'integer', (c) => c.notNull().references('licenses.id').onDelete('cascade'))
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('platform', 'text')
        .addColumn('hostname', 'text')
        .addColumn('ip', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('machines_license_fingerprint_uq', ['license_id', 'fingerprint'])
        .execute();
      await db.schema.createIndex('machines_last_seen_idx').on('machines').column('last_seen_at').execute();

      // One row per machine freed by a key holder or an owner: their daily allowances are counted from it.
      await db.schema
        .createTable('machine_deactivations')
        .addColumn('id', ...idColumn(dialect))
        .addColumn('license_id', 'integer', (c) => c.notNull().references('licenses.id').onDelete('cascade'))
        .addColumn('by', 'text', (c) => c.notNull())
        .addColumn('time', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('machine_deactivations_license_idx').on('machine_deactivations').columns(['license_id', 'by', 'time']).execute();
    },
  };
}
