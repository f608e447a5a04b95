import type { PolicyRow } from '../storage/schema.js';
import { LIMITS } from './schemas/limits.js';
import type { MachineIdentity } from './schemas/policy.js';

/** How a license tracks machines: its policy's settings with the license's own limit over them. */
export interface MachineRules {
  maxMachines: number;
  identity: MachineIdentity;
  autoActivate: boolean;
  /** A machine not seen for this long is dead; null: machines live until freed. */
  heartbeatMs: number | null;
  deactivationsPerDay: number;
}

/** A policy's `deactivationsPerDay` when it names none, and a plain license's with its own machine limit. */
export const DEFAULT_DEACTIVATIONS_PER_DAY = 3;

/** What the policy fields default to (a license with its own machine limit and no policy uses them). */
export const POLICY_DEFAULTS = {
  expiryBasis: 'issued',
  machineIdentity: 'fingerprint',
  autoActivate: true,
  deactivationsPerDay: DEFAULT_DEACTIVATIONS_PER_DAY,
} as const;

/**
 * The machine rules of a license, or null when it tracks no machines: the license's own
 * `max_machines` wins over its policy's; a null limit on both means machines are not tracked.
 */
export function machineRules(license: { max_machines: number | null }, policy: PolicyRow | null | undefined): MachineRules | null {
  const maxMachines = license.max_machines ?? policy?.max_machines ?? null;
  if (maxMachines === null) return null;
  return {
    maxMachines,
    identity: policy?.machine_identity ?? POLICY_DEFAULTS.machineIdentity,
    autoActivate: policy ? policy.auto_activate === 1 : POLICY_DEFAULTS.autoActivate,
    heartbeatMs: policy?.heartbeat_seconds ? policy.heartbeat_seconds * 1000 : null,
    deactivationsPerDay: policy?.deactivations_per_day ?? DEFAULT_DEACTIVATIONS_PER_DAY,
  };
}

/** A machine last seen at `lastSeenAt` is alive at `now` unless its heartbeat passed meanwhile. */
export const isAlive = (lastSeenAt: number, rules: Pick<MachineRules, 'heartbeatMs'>, now: number): boolean =>
  rules.heartbeatMs === null || lastSeenAt + rules.heartbeatMs > now;

/** When a machine last seen at `lastSeenAt` dies unless seen again (null: never). */
export const deadAt = (lastSeenAt: number, rules: Pick<MachineRules, 'heartbeatMs'>): number | null =>
  rules.heartbeatMs === null ? null : lastSeenAt + rules.heartbeatMs;

const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/** A fingerprint as sent: 1-255 printable ASCII characters; anything else is null (never clamped). */
export function parseFingerprint(value: unknown): string | null {
  if (typeof value !== 'string' || value.length === 0 || value.length > LIMITS.machine.fingerprint.max) return null;
  return PRINTABLE_ASCII.test(value) ? value : null;
}
