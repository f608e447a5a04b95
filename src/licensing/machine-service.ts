import { KeywardError } from '../errors.js';
import type { LicenseRecord, LicenseRepository } from '../storage/license-repository.js';
import type { MachineRepository } from '../storage/machine-repository.js';
import type { PolicyRepository } from '../storage/policy-repository.js';
import type { MachineRow } from '../storage/schema.js';
import type { TransactionRepos, Transactions } from '../storage/transactions.js';
import { licenseJson, machineJson } from './json.js';
import type { DomainEvent, EventOutbox, MachineBy, MachineEventType } from './machine-events.js';
import { holdsSlot, isAlive, machineRules, type ActivationMode, type ActivationOutcome, type DeactivationStatus, type MachineDetails, type MachineRules } from './machine-rules.js';
export type { ActivationMode, ActivationOutcome, DeactivationStatus, MachineDetails } from './machine-rules.js';
import type { MachineJson } from './schemas/policy.js';
import { LIMITS } from './schemas/limits.js';
import { isDbId } from './values.js';
import type { Role } from './user-service.js';

const DAY_MS = 86_400_000;

/** Who frees a machine: the key holder and the owner each have a daily allowance; staff have none. */
export type Deactivator = { by: 'key' } | { by: 'owner'; actor: string; userId: number } | { by: 'staff'; actor: string };

/** Who asks to see a license's machines: staff see any license's, a customer only their own's. */
export interface MachineViewer {
  role: Role;
  userId?: number;
}

/**
 * Machines: the devices or servers a license runs on (docs/machines.md). Each activation and each
 * deactivation is one transaction that locks the license first, so the machine limit and the daily
 * deactivation allowances hold under races between connections and instances, and commits with its
 * audit entry and webhook (`machine.activated|deactivated|dead`).
 */
export class MachineService {
  constructor(
    private readonly repos: {
      licenses: LicenseRepository;
      policies: PolicyRepository;
      machines: MachineRepository;
      transactions: Transactions;
    },
    private readonly outbox?: EventOutbox,
  ) {}

  /** A license's machines, alive and dead (until the sweep frees them), with its rules; customers see only their own. */
  async list(licenseId: number, viewer: MachineViewer = { role: 'staff' }): Promise<{ machines: MachineJson[]; rules: MachineRules | null; deactivationsLeft?: number }> {
    const license = await this.license(licenseId, viewer);
    const rules = await rulesOf(this.repos.policies, license);
    const now = Date.now();
    const machines = (await this.repos.machines.listOf(licenseId)).map((m) => machineJson(m, rules, now));
    if (viewer.role !== 'customer' || !rules) return { machines, rules };
    const used = await this.repos.machines.deactivationsSince(licenseId, 'owner', now - DAY_MS);
    return { machines, rules, deactivationsLeft: Math.max(0, rules.deactivationsPerDay - used) };
  }

  async get(machineId: number): Promise<MachineJson> {
    const row = isDbId(machineId) ? await this.repos.machines.get(machineId) : undefined;
    if (!row) throw machineNotFound(machineId);
    const license = (await this.repos.licenses.get(row.license_id))!;
    return machineJson(row, await rulesOf(this.repos.policies, license));
  }

  /**
   * Activates `fingerprint` on the license, or finds it active: the limit is counted with the
   * license locked. A machine whose heartbeat passed is freed first (`machine.dead`). Null when the
   * license is gone or tracks no machines.
   */
  async activate(licenseId: number, fingerprint: string, details: MachineDetails, mode: ActivationMode, now = Date.now()): Promise<ActivationOutcome | null> {
    return this.repos.transactions.change('machines', async (t) => {
      const found = await lockedLicense(t, licenseId);
      if (!found) return null;
      const { license, rules } = found;
      if (!rules) return null;
      const existing = await t.machines.findByFingerprint(licenseId, fingerprint);
      const refuses = mode === 'confirm' || (mode === 'auto' && !rules.autoActivate);
      if (existing && existing.deactivated_at === null && holdsSlot(existing, rules, now)) {
        await t.machines.touch(existing.id, now, details.ip);
        return { status: 'ALREADY ACTIVATED', machine: { ...existing, last_seen_at: Math.max(existing.last_seen_at, now), ip: details.ip }, rules };
      }
      if (existing && existing.deactivated_at !== null && holdsSlot(existing, rules, now)) {
        // Freed while a license file holds its slot: the slot is its own, so it may come back.
        if (refuses) return { status: 'NOT ACTIVATED', machine: null, rules };
        await t.machines.reactivate(existing.id, now, details.ip);
        const machine = { ...existing, deactivated_at: null, last_seen_at: now, ip: details.ip };
        await this.outbox?.queueIn(t, [await activated(t, license, machine, rules, now)]);
        return { status: 'ACTIVATED', machine, rules };
      }
      const events: DomainEvent[] = [];
      if (existing) {
        await t.machines.delete(existing.id);
        // A machine freed earlier was announced then; one whose heartbeat passed is announced now.
        if (existing.deactivated_at === null) events.push(await freed(t, 'machine.dead', license, existing, rules, 'heartbeat', 'system', now));
      }
      let outcome: ActivationOutcome;
      if (refuses) {
        outcome = { status: 'NOT ACTIVATED', machine: null, rules };
      } else if ((await t.machines.countHolding(licenseId, rules.heartbeatMs === null ? null : now - rules.heartbeatMs + 1, now)) >= rules.maxMachines) {
        outcome = { status: 'TOO MANY MACHINES', machine: null, rules };
      } else {
        const machine = await t.machines.insert({
          license_id: licenseId,
          fingerprint,
          name: text(details.name),
          platform: text(details.platform),
          hostname: text(details.hostname),
          ip: details.ip,
          created_at: now,
          last_seen_at: now,
        });
        events.push(await activated(t, license, machine, rules, now));
        outcome = { status: 'ACTIVATED', machine, rules };
      }
      await this.outbox?.queueIn(t, events);
      return outcome;
    });
  }

  /**
   * Frees a machine. The key holder and the owner each may free `deactivationsPerDay` machines per
   * rolling 24 hours, counted with the license locked (parallel calls never exceed it); staff are not
   * limited. `machine` is the fingerprint (key holders) or the machine id (dashboard, API, CLI).
   * Null when the license is gone or tracks no machines.
   */
  async deactivate(
    licenseId: number,
    machine: { fingerprint: string } | { id: number },
    who: Deactivator,
    now = Date.now(),
  ): Promise<{ status: DeactivationStatus; machine: MachineRow | null; rules: MachineRules | null } | null> {
    return this.repos.transactions.change('machines', async (t) => {
      const found = await lockedLicense(t, licenseId);
      // Staff may still clear machines a license kept from when it tracked them; no one else need.
      if (!found || (!found.rules && who.by !== 'staff')) return null;
      const { license, rules } = found;
      if (who.by === 'owner' && license.owner_id !== who.userId) return null;
      const row = 'id' in machine ? await t.machines.get(machine.id) : await t.machines.findByFingerprint(licenseId, machine.fingerprint);
      if (!row || row.license_id !== licenseId) return { status: 'NOT ACTIVATED', machine: null, rules };
      // Already freed, its file still holding the slot: there is nothing more a key holder can free.
      if (row.deactivated_at !== null && who.by !== 'staff') return { status: 'NOT ACTIVATED', machine: null, rules };
      const active = !rules || (row.deactivated_at === null && holdsSlot(row, rules, now));
      // A dead machine holds no slot: freeing it is not a deactivation, and costs no allowance.
      if (rules && active && who.by !== 'staff') {
        const used = await t.machines.deactivationsSince(licenseId, who.by, now - DAY_MS);
        if (used >= rules.deactivationsPerDay) return { status: 'DEACTIVATION LIMIT', machine: row, rules };
        await t.machines.recordDeactivation(licenseId, who.by, now);
      }
      // An unexpired license file keeps the slot taken until it ends (docs/license-files.md); staff may force it.
      if (active && who.by !== 'staff' && row.file_expires_at !== null && row.file_expires_at > now) await t.machines.markDeactivated(row.id, now);
      else await t.machines.delete(row.id);
      const by: MachineBy = active ? who.by : 'heartbeat';
      const event = await freed(t, active ? 'machine.deactivated' : 'machine.dead', license, row, rules, by, who.by === 'key' ? 'license key' : who.actor, now);
      await this.outbox?.queueIn(t, [event]);
      return { status: active ? 'DEACTIVATED' : 'NOT ACTIVATED', machine: row, rules };
    });
  }

  /**
   * Staff (dashboard, API, CLI) free a machine by its id, spending no allowance; throws when there is
   * no such machine (with `licenseId`: no such license, or no such machine on it). Also frees the
   * machines a license keeps after it stopped tracking them (its limit set to none), which
   * `deactivate` does not see.
   */
  async deactivateById(machineId: number, actor: string, licenseId?: number, now = Date.now()): Promise<void> {
    if (licenseId !== undefined) await this.license(licenseId, { role: 'staff' });
    const row = isDbId(machineId) ? await this.repos.machines.get(machineId) : undefined;
    if (!row || (licenseId !== undefined && row.license_id !== licenseId)) throw machineNotFound(machineId, licenseId);
    const done = await this.repos.transactions.change('machines', async (t) => {
      const found = await lockedLicense(t, row.license_id);
      const current = found && (await t.machines.get(machineId));
      if (!found || !current || current.license_id !== row.license_id) return false;
      const { license, rules } = found;
      // A machine freed earlier whose file still held its slot is released now, as freed by staff.
      const alive = rules === null || holdsSlot(current, rules, now);
      await t.machines.delete(current.id);
      const event = await freed(t, alive ? 'machine.deactivated' : 'machine.dead', license, current, rules, alive ? 'staff' : 'heartbeat', actor, now);
      await this.outbox?.queueIn(t, [event]);
      return true;
    });
    if (!done) throw machineNotFound(machineId, licenseId);
  }

  /**
   * Deletes machines freed while a license file held their slot, once the file ended (their
   * `machine.deactivated` was sent when they were freed), at most `limit`; returns how many.
   */
  async releaseEndedHolds(now: number, limit: number): Promise<number> {
    let count = 0;
    for (const row of await this.repos.machines.releasedHolds(now, limit)) {
      const done = await this.repos.transactions.change('machines', async (t) => (await t.licenses.lock(row.license_id)) && t.machines.deleteReleased(row.id, now));
      if (done) count++;
    }
    return count;
  }

  /** Forgets deactivations older than a day: they no longer count toward any allowance. */
  async purgeDeactivations(now = Date.now()): Promise<number> {
    return this.repos.machines.purgeDeactivations(now - DAY_MS);
  }

  /** How many machines the key holder, or the owner, may still free today. */
  async deactivationsLeft(licenseId: number, by: 'key' | 'owner', now = Date.now()): Promise<number | null> {
    const license = await this.license(licenseId, { role: 'staff' });
    const rules = await rulesOf(this.repos.policies, license);
    if (!rules) return null;
    return Math.max(0, rules.deactivationsPerDay - (await this.repos.machines.deactivationsSince(licenseId, by, now - DAY_MS)));
  }

  /**
   * Frees machines whose heartbeat passed more than `graceMs` ago (the grace covers sightings other
   * instances have not written yet), at most `limit` per call; each is freed in its own transaction
   * only if it was still unseen, so instances sweeping at once free each machine once. Returns how
   * many this call freed.
   */
  async sweepDead(now: number, options: { limit: number; graceMs: number }): Promise<number> {
    const dead = await this.repos.machines.dead(now, options.graceMs, options.limit);
    let count = 0;
    for (const row of dead) {
      const done = await this.repos.transactions.change('machines', async (t) => {
        const found = await lockedLicense(t, row.license_id);
        if (!found?.rules) return false;
        if (!(await t.machines.deleteUnseenSince(row.id, row.last_seen_at, now))) return false;
        await this.outbox?.queueIn(t, [await freed(t, 'machine.dead', found.license, row, found.rules, 'heartbeat', 'system', now)]);
        return true;
      });
      if (done) count++;
    }
    return count;
  }

  private async license(id: number, viewer: MachineViewer): Promise<LicenseRecord> {
    const license = isDbId(id) ? await this.repos.licenses.get(id) : null;
    if (!license || (viewer.role === 'customer' && license.owner_id !== viewer.userId)) throw new KeywardError('license_not_found', `license ${id} does not exist`);
    return license;
  }
}

/** In a license change's transaction (key regenerated): frees every machine, counting against no allowance; returns their events. */
export async function freeAllMachines(t: TransactionRepos, license: LicenseRecord, actor: string, now: number): Promise<DomainEvent[]> {
  const rules = await rulesOf(t.policies, license);
  const events: DomainEvent[] = [];
  for (const m of await t.machines.deleteAllOf(license.id)) events.push(await freed(t, 'machine.deactivated', license, m, rules, 'regenerated', actor, now));
  return events;
}

/** The audit entry of a machine freed, and its event for the outbox. */
async function freed(
  t: TransactionRepos,
  type: Exclude<MachineEventType, 'machine.activated'>,
  license: LicenseRecord,
  machine: MachineRow,
  rules: MachineRules | null,
  by: MachineBy,
  actor: string,
  now: number,
): Promise<DomainEvent> {
  const json = machineJson(machine, rules, now);
  await t.audit.insert({ actor, action: type, targetType: 'license', targetId: license.id, before: json, after: { by } }, now);
  return { type, time: now, data: { license: licenseJson(license), machine: json, by } };
}

/** A machine just activated by its key holder: its audit entry, and the `machine.activated` event to queue. */
async function activated(t: TransactionRepos, license: LicenseRecord, machine: MachineRow, rules: MachineRules, now: number): Promise<DomainEvent> {
  const json = machineJson(machine, rules, now);
  await t.audit.insert({ actor: 'license key', action: 'machine.activated', targetType: 'license', targetId: license.id, after: json }, now);
  return { type: 'machine.activated', time: now, data: { license: licenseJson(license), machine: json, by: 'key' } };
}

/** A license's machine rules, its policy read through `policies` (a transaction's, to see its own state). */
async function rulesOf(policies: Pick<PolicyRepository, 'get'>, license: LicenseRecord): Promise<MachineRules | null> {
  return machineRules(license, license.policy_id === null ? null : await policies.get(license.policy_id));
}

const machineNotFound = (id: number, licenseId?: number) =>
  new KeywardError('machine_not_found', licenseId === undefined ? `machine ${id} does not exist` : `machine ${id} does not exist on license ${licenseId}`);

/** The license locked for the rest of the transaction, with its machine rules; null when it is gone. */
async function lockedLicense(t: TransactionRepos, id: number): Promise<{ license: LicenseRecord; rules: MachineRules | null } | null> {
  if (!(await t.licenses.lock(id))) return null;
  const license = (await t.licenses.get(id))!;
  return { license, rules: await rulesOf(t.policies, license) };
}

/** What a client reports about its machine, cut to length; empty is none. */
function text(value: string | null | undefined): string | null {
  if (typeof value !== 'string' || value === '') return null;
  const cut = value.length <= LIMITS.machine.text ? value : value.slice(0, LIMITS.machine.text);
  return cut.replaceAll('\u0000', '\uFFFD');
}
