import type { LicenseJson } from './json.js';

export const LICENSE_EVENTS = ['license.created', 'license.updated', 'license.deleted', 'license.regenerated'] as const;
export type LicenseEventType = (typeof LICENSE_EVENTS)[number];

/** A committed change to a license, as its public JSON (never with the clear key). */
export interface LicenseEvent {
  type: LicenseEventType;
  time: number;
  license: LicenseJson;
  /** `license.updated`: the license before the change. */
  previous?: LicenseJson;
}

/**
 * Where LicenseService reports changes, wherever they are made (CLI, API, dashboard), e.g. the
 * webhook queue. Called after the change is committed; it must not throw for its own faults.
 */
export interface LicenseEventSink {
  publish(event: LicenseEvent): Promise<void>;
}
