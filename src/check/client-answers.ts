import type { CheckOp, CheckResult } from '../licensing/check-license.js';
import { deadAt, slotsTaken } from '../licensing/machine-rules.js';
import { isPassing, type KnownMachine, type LicenseSnapshot } from '../licensing/validate-license.js';
import type { Answers } from './answers.js';

/** The client endpoints (docs/check-api.md, "Client endpoints"): `/api/license/<op>`. */
export type ClientOp = Exclude<CheckOp, 'check'>;
export const CLIENT_OPS: ReadonlySet<string> = new Set<ClientOp>(['validate', 'activate', 'deactivate', 'heartbeat', 'usage', 'file']);

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/**
 * A client endpoint's answer body: a check's `status`, `pass` and `details`, plus `machine` (the
 * caller's own machine, or null), `license` for validate (only when the key grants the product) and
 * `nextHeartbeatBy` for heartbeat. A key holder never sees other machines or their fingerprints.
 */
export function clientAnswer(op: ClientOp, result: CheckResult, answers: Answers, now: number, details = answers.details(result)): string {
  const rules = result.license?.machines?.rules ?? null;
  const body: Record<string, unknown> = { status: result.status, pass: isPassing(result.status), details };
  if (op === 'validate' && result.license && result.productId !== null) body.license = licenseView(result.license, result.uses ?? 0, now);
  body.machine = result.machine ? machineView(result.machine, result.license?.machines?.rules.heartbeatMs ?? null) : null;
  if (op === 'heartbeat') {
    const heartbeatMs = rules?.heartbeatMs ?? null;
    body.nextHeartbeatBy = result.status === 'ALIVE' && result.machine && heartbeatMs !== null ? iso(result.machine.last_seen_at + heartbeatMs) : null;
  } else if (op === 'usage') {
    body.uses = result.uses ?? null;
    body.maxUses = result.uses === undefined ? null : (result.maxUses ?? null);
  } else if (op === 'file') {
    body.file = result.file ?? null;
  }
  return JSON.stringify(body);
}

/** `validate`'s view of the license: what it grants and how much of it is in use. */
function licenseView(license: LicenseSnapshot, uses: number, now: number): Record<string, unknown> {
  const slots = license.machines;
  const machines = slots ? slotsTaken(slots, now) : 0;
  return {
    id: license.id,
    productIds: license.productIds,
    expiresAt: iso(license.expiresAt),
    entitlements: license.entitlements ? [...license.entitlements] : [],
    maxMachines: slots?.rules.maxMachines ?? null,
    machines,
    uses,
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
