import { LIMITS } from './schemas/limits.js';
import type { MachineIdentity } from './schemas/policy.js';
import type { KnownMachine, MachineSlots } from './validate-license.js';

/** The policy fields machine tracking reads (a policies row). */
export interface PolicyMachineFields {
  max_machines: number | null;
  machine_identity: MachineIdentity;
  auto_activate: number;
  heartbeat_seconds: number | null;
  deactivations_per_day: number;
}

/** What a client says about the machine it runs on; cut to LIMITS.machine.text, never refused. */
export interface MachineDetails {
  name?: string | null;
  platform?: string | null;
  hostname?: string | null;
  /** The caller's IP: the machine's last-seen IP. */
  ip: string;
}

/**
 * How a client asked: `auto` (a check or validate: takes a free slot when the policy auto-activates),
 * `explicit` (the activate endpoint: takes one whatever autoActivate says), `confirm` (heartbeat,
 * or a check whose cached view is stale: only says whether the machine is active).
 */
export type ActivationMode = 'auto' | 'explicit' | 'confirm';

export type ActivationStatus = 'ACTIVATED' | 'ALREADY ACTIVATED' | 'TOO MANY MACHINES' | 'NOT ACTIVATED';

export interface ActivationOutcome {
  status: ActivationStatus;
  /** The machine active after the call (null when refused). */
  machine: KnownMachine | null;
  rules: MachineRules;
}

export type DeactivationStatus = 'DEACTIVATED' | 'NOT ACTIVATED' | 'DEACTIVATION LIMIT';

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
export function machineRules(license: { max_machines: number | null }, policy: PolicyMachineFields | null | undefined): MachineRules | null {
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

/**
 * A machine holds a slot while it is active and alive, and, whatever else, while a license file
 * issued for it is unexpired (docs/license-files.md): a file cannot be revoked, so the slot cannot
 * be given to another machine before the file ends.
 */
export function holdsSlot(
  m: { last_seen_at: number; file_expires_at?: number | null; deactivated_at?: number | null },
  rules: Pick<MachineRules, 'heartbeatMs'>,
  now: number,
): boolean {
  return (m.file_expires_at != null && m.file_expires_at > now) || (m.deactivated_at == null && isAlive(m.last_seen_at, rules, now));
}

/** How many of these machines hold a slot at `now`. */
export function liveCount(machines: Iterable<Parameters<typeof holdsSlot>[0]>, rules: Pick<MachineRules, 'heartbeatMs'>, now: number): number {
  let n = 0;
  for (const m of machines) if (holdsSlot(m, rules, now)) n++;
  return n;
}

/** Slots a cached license's machines take at `now`: its known machines', and those freed machines' whose file still holds one. */
export function slotsTaken(slots: MachineSlots, now: number): number {
  let n = liveCount(slots.known.values(), slots.rules, now);
  if (slots.held) for (const end of slots.held.values()) if (end > now) n++;
  return n;
}

/** When a machine last seen at `lastSeenAt` dies unless seen again (null: never). */
export const deadAt = (lastSeenAt: number, rules: Pick<MachineRules, 'heartbeatMs'>): number | null =>
  rules.heartbeatMs === null ? null : lastSeenAt + rules.heartbeatMs;

const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/** A fingerprint as sent: 1-255 printable ASCII characters; anything else is null (never clamped). */
export function parseFingerprint(value: unknown): string | null {
  if (typeof value !== 'string' || value.length === 0 || value.length > LIMITS.machine.fingerprint.max) return null;
  return PRINTABLE_ASCII.test(value) ? value : null;
}
