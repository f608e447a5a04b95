import type { Kysely } from 'kysely';
import { addEventsToEveryEventEndpoints } from './0011-webhook-machine-events.js';

/**
 * Entitlements, metered usage and offline license files (docs/license-files.md): a license's own
 * feature codes (added to its policy's), its usage counter and its own usage limit (overrides the
 * policy's), and on a machine the end of the latest license file issued for it, until which the
 * machine keeps its slot (`deactivated_at`: a key holder freed it while a file still held it).
 */
export const entitlementsUsageFiles = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('licenses').addColumn('entitlements', 'text', (c) => c.notNull().defaultTo('[]')).execute();
    await db.schema.alterTable('licenses').addColumn('uses', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
    await db.schema.alterTable('licenses').addColumn('max_uses', 'bigint').execute();
    await db.schema.alterTable('machines').addColumn('file_expires_at', 'bigint').execute();
    await db.schema.alterTable('machines').addColumn('deactivated_at', 'bigint').execute();
    // The sweep finds freed machines whose file ended by this index, not by reading every machine.
    await db.schema.createIndex('machines_deactivated_idx').on('machines').column('deactivated_at').execute();
    await addEventsToEveryEventEndpoints(db, ['license.usage_limit_reached']);
  },
};
