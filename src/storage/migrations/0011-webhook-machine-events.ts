import type { Kysely } from 'kysely';

/** Every event an endpoint could subscribe to before 0010 (`check.failed` is opt-in, so not required). */
const EVERY_EVENT_BEFORE = ['license.created', 'license.updated', 'license.deleted', 'license.regenerated', 'check.ip_bound'];
/** The event types 0010 added. */
const ADDED = ['machine.activated', 'machine.deactivated', 'machine.dead'];

/**
 * Endpoints subscribed to every event receive new event types (docs/api.md, "Events"). An endpoint
 * keeps its events as a list, so one whose list held every event there was gets the machine events
 * added; one that picked some of them keeps its pick.
 */
export const webhookMachineEvents = {
  up: (db: Kysely<any>): Promise<void> => addEventsToEveryEventEndpoints(db, ADDED),
};

/**
 * Adds `added` to each endpoint whose list holds every event there was before 0010 (an endpoint
 * subscribed to everything); one that picked some events keeps its pick. Used by later migrations too.
 */
export async function addEventsToEveryEventEndpoints(db: Kysely<any>, added: readonly string[]): Promise<void> {
  const rows: { id: number; events: string }[] = await db.selectFrom('webhook_endpoints').select(['id', 'events']).execute();
  for (const row of rows) {
    const events = parseList(row.events);
    if (!EVERY_EVENT_BEFORE.every((e) => events.includes(e))) continue;
    const missing = added.filter((e) => !events.includes(e));
    if (missing.length === 0) continue;
    await db.updateTable('webhook_endpoints').set({ events: JSON.stringify([...events, ...missing]) }).where('id', '=', row.id).execute();
  }
}

function parseList(text: string): string[] {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
  } catch {
    return [];
  }
}
