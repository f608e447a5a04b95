import type { TransactionRepos } from '../storage/transactions.js';
import type { LicenseJson } from './json.js';
import type { EventOutbox } from './machine-events.js';

export const LICENSE_EVENTS = ['license.created', 'license.updated', 'license.deleted', 'license.regenerated'] as const;
export type LicenseEventType = (typeof LICENSE_EVENTS)[number];
/** Sent when a license's usage counter first reaches its limit (again after a reset or decrement). */
export const USAGE_EVENTS = ['license.usage_limit_reached'] as const;

/** A change to a license, as its public JSON (never with the clear key). */
export interface LicenseEvent {
  type: LicenseEventType;
  time: number;
  license: LicenseJson;
  /** `license.updated`: the license before the change. */
  previous?: LicenseJson;
}

/**
 * Where LicenseService queues a change's events (e.g. webhook deliveries): through the change's own
 * transaction, so they commit with the change or not at all (an outbox). A failure fails the change.
 */
export interface LicenseEventOutbox extends EventOutbox {
  queue(t: TransactionRepos, events: readonly LicenseEvent[]): Promise<void>;
}
