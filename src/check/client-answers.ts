import type { CheckOp, CheckResult } from '../licensing/check-license.js';
import { deadAt, liveCount } from '../licensing/machine-rules.js';
import { isPassing, type KnownMachine, type LicenseSnapshot } from '../licensing/validate-license.js';
import type { Answers } from './answers.js';

/** The client endpoints (docs/check-api.md, "Client endpoints"): `/api/license/<op>`. */
export type ClientOp = Exclude<CheckOp, 'check'>;
export const CLIENT_OPS: ReadonlySet<string> = new Set<ClientOp>(['validate', 'activate', 'deactivate', 'heartbeat']);

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/**
 * A client endpoint's answer body: a check's `status`, `pass` and `details`, plus `machine` (the
 * caller's own machine, or null), `license` for validate (only when the key grants the product) and
 * `nextHeartbeatBy` for heartbeat. A key holder never sees other machines or their fingerprints.
 */
export function clientAnswer(op: ClientOp, result: CheckResult, answers: Answers, now: number): string {
  const rules = result.license?.machines?.rules ?? null;
  const body: Record<string, unknown> = { status: result.status, pass: isPassing(result.status), details: answers.details(result) };
  if (op === 'validate' && result.license && result.productId !== null) body.license = licenseView(result.license, now);
  body.machine = result.machine ? machineView(result.machine, result.license?.machines?.rules.heartbeatMs ?? null) : null;
  if (op === 'heartbeat') {
    const heartbeatMs = rules?.heartbeatMs ?? null;
    body.nextHeartbeatBy = result.status === 'ALIVE' && result.machine && heartbeatMs !== null ? iso(result.machine.last_seen_at + heartbeatMs) : null;
  }
  return JSON.stringify(body);
}

/** `validate`'s view of the license: what it grants and how much of it is in use. */
function licenseView(license: LicenseSnapshot, now: number): Record<string, unknown> {
  const slots = license.machines;
  const machines = slots ? liveCount(slots.known.values(), slots.rules, now) : 0;
  return {
    id: license.id,
    productIds: license.productIds,
    expiresAt: iso(license.expiresAt),
    entitlements: license.entitlements ?? [],
    maxMachines: slots?.rules.maxMachines ?? null,
    machines,
    uses: license.uses ?? 0,
    maxUses: license.maxUses ?? null,
  };
}

/** The caller's own machine. */
function machineView(m: KnownMachine, heartbeatMs: number | null): Record<string, unknown> {
  return {
    id: m.id,
    fingerprint: m.fingerprint,
    name: m.name,
    platform: m.platform,
    hostname: m.hostname,
    createdAt: iso(m.created_at),
    lastSeenAt: iso(m.last_seen_at),
    deadAt: iso(deadAt(m.last_seen_at, { heartbeatMs })),
  };
}
