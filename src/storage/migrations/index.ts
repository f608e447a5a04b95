import type { Migration, MigrationProvider } from 'kysely';
import type { Dialect } from './helpers.js';
import { retention } from './0006-retention.js';
import { signingKeys } from './0007-signing-keys.js';
import { leanAuthLogIndexes } from './0008-lean-auth-log-indexes.js';
import { changeVersions } from './0009-change-versions.js';
import { policiesMachines } from './0010-policies-machines.js';
import { webhookMachineEvents } from './0011-webhook-machine-events.js';
import { entitlementsUsageFiles } from './0012-entitlements-usage-files.js';
import { initial } from './0001-initial.js';
import { settings } from './0002-settings.js';
import { apiTokens } from './0003-api-tokens.js';
import { webhooks } from './0004-webhooks.js';
import { dashboard } from './0005-dashboard.js';

/** Every migration, in order. Never edit a landed one: add a new entry. */
export function migrations(dialect: Dialect): MigrationProvider {
  const all: Record<string, Migration> = {
    '0001-initial': initial(dialect),
    '0002-settings': settings,
    '0003-api-tokens': apiTokens(dialect),
    '0004-webhooks': webhooks(dialect),
    '0005-dashboard': dashboard(dialect),
    '0006-retention': retention,
    '0007-signing-keys': signingKeys,
    '0008-lean-auth-log-indexes': leanAuthLogIndexes,
    '0009-change-versions': changeVersions(dialect),
    '0010-policies-machines': policiesMachines(dialect),
    '0011-webhook-machine-events': webhookMachineEvents,
    '0012-entitlements-usage-files': entitlementsUsageFiles,
  };
  return { getMigrations: async () => all };
}
