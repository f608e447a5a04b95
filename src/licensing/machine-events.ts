import type { TransactionRepos } from '../storage/transactions.js';
import type { USAGE_EVENTS } from './license-events.js';

export const MACHINE_EVENTS = ['machine.activated', 'machine.deactivated', 'machine.dead'] as const;
export type MachineEventType = (typeof MACHINE_EVENTS)[number];

/**
 * Who acted on a machine, as webhooks and the audit log say it: the license key's holder (a check or
 * a client endpoint), the license's owner (dashboard), staff (dashboard, API, CLI), or no one: a
 * heartbeat that passed, or a key regenerated.
 */
export type MachineBy = 'key' | 'owner' | 'staff' | 'heartbeat' | 'regenerated';

/** An event that is not a license change's own: `{ type, time, data }` as webhooks send it. */
export interface DomainEvent {
  type: MachineEventType | (typeof USAGE_EVENTS)[number];
  time: number;
  data: Record<string, unknown>;
}

/** Queues events through a change's transaction (its webhook outbox). */
export interface EventOutbox {
  queueIn(t: TransactionRepos, events: readonly DomainEvent[]): Promise<unknown>;
}
