import { sql, type Insertable, type Kysely } from 'kysely';
import type { Database, MachineRow, MachinesTable } from './schema.js';

/** A machine whose policy heartbeat passed without it being seen: what the sweep frees. */
export interface DeadMachine extends MachineRow {
  heartbeatSeconds: number;
}

/** Machines (the devices or servers a license runs on) and the record of who freed them. */
export class MachineRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** A license's machines, oldest first. */
  listOf(licenseId: number): Promise<MachineRow[]> {
    return this.db.selectFrom('machines').selectAll().where('license_id', '=', licenseId).orderBy('id').execute();
  }

  get(id: number): Promise<MachineRow | undefined> {
    return this.db.selectFrom('machines').selectAll().where('id', '=', id).executeTakeFirst();
  }

  findByFingerprint(licenseId: number, fingerprint: string): Promise<MachineRow | undefined> {
    return this.db
      .selectFrom('machines')
      .selectAll()
      .where('license_id', '=', licenseId)
      .where('fingerprint', '=', fingerprint)
      .executeTakeFirst();
  }

  /**
   * Machines holding a slot at `now`: active ones seen at or after `aliveSince` (null: every active
   * one), and any whose license file is unexpired (docs/license-files.md).
   */
  async countHolding(licenseId: number, aliveSince: number | null, now: number): Promise<number> {
    const row = await this.db
      .selectFrom('machines')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('license_id', '=', licenseId)
      .where((eb) => {
        const active = aliveSince === null ? eb('deactivated_at', 'is', null) : eb.and([eb('deactivated_at', 'is', null), eb('last_seen_at', '>=', aliveSince)]);
        return eb.or([active, eb('file_expires_at', '>', now)]);
      })
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** A license file was issued for the machine: it holds its slot until `until` (never shortened). */
  async holdForFile(id: number, until: number): Promise<void> {
    await this.db
      .updateTable('machines')
      .set((eb) => ({ file_expires_at: sql<number>`case when ${eb.ref('file_expires_at')} > ${until} then ${eb.ref('file_expires_at')} else ${until} end` }))
      .where('id', '=', id)
      .execute();
  }

  /** Its key holder or owner freed it while a file holds its slot: inactive, kept until the file ends. */
  async markDeactivated(id: number, at: number): Promise<void> {
    await this.db.updateTable('machines').set({ deactivated_at: at }).where('id', '=', id).execute();
  }

  /** A freed machine whose file still holds its slot is activated again: seen now, from `ip`. */
  async reactivate(id: number, at: number, ip: string | null): Promise<void> {
    await this.db.updateTable('machines').set({ deactivated_at: null, last_seen_at: at, ip }).where('id', '=', id).execute();
  }

  /** Freed machines whose file ended by `now`, at most `limit` (by the deactivated index, never every machine). */
  releasedHolds(now: number, limit: number): Promise<MachineRow[]> {
    return this.db
      .selectFrom('machines')
      .selectAll()
      .where('deactivated_at', 'is not', null)
      .where('file_expires_at', '<=', now)
      .orderBy('deactivated_at')
      .limit(limit)
      .execute();
  }

  /** Deletes a freed machine whose file ended (still so: it may have been activated again meanwhile). */
  async deleteReleased(id: number, now: number): Promise<boolean> {
    const result = await this.db
      .deleteFrom('machines')
      .where('id', '=', id)
      .where('deactivated_at', 'is not', null)
      .where((eb) => eb.or([eb('file_expires_at', 'is', null), eb('file_expires_at', '<=', now)]))
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async insert(row: Insertable<MachinesTable>): Promise<MachineRow> {
    return this.db.insertInto('machines').values(row).returningAll().executeTakeFirstOrThrow();
  }

  /** Marks a machine seen now (and from `ip`), never moving its last sighting back. */
  async touch(id: number, at: number, ip: string | null): Promise<void> {
    await this.db
      .updateTable('machines')
      .set((eb) => ({
        last_seen_at: sql<number>`case when ${eb.ref('last_seen_at')} < ${at} then ${at} else ${eb.ref('last_seen_at')} end`,
        ip: ip ?? eb.ref('ip'),
      }))
      .where('id', '=', id)
      .execute();
  }

  async delete(id: number): Promise<boolean> {
    const result = await this.db.deleteFrom('machines').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** Frees every machine of a license; returns the machines freed. */
  deleteAllOf(licenseId: number): Promise<MachineRow[]> {
    return this.db.deleteFrom('machines').where('license_id', '=', licenseId).returningAll().execute();
  }

  /**
   * Machines of licenses whose policy has a heartbeat, not seen for longer than it plus `graceMs`
   * at `now`, oldest sighting first, at most `limit`.
   *
   * Policy by policy, each with its own cutoff as a constant: `last_seen_at < cutoff` can range over
   * the last-seen index (or the policy's licenses be read by their index), where one condition over
   * the joined heartbeat made every sweep read every machine, every 10 s (docs/benchmarks.md,
   * "Policies and machines"). With no heartbeat policy, the usual case, it reads no machine at all.
   */
  async dead(now: number, graceMs: number, limit: number): Promise<DeadMachine[]> {
    const policies = await this.db.selectFrom('policies').select(['id', 'heartbeat_seconds']).where('heartbeat_seconds', 'is not', null).execute();
    const found: DeadMachine[] = [];
    for (const policy of policies) {
      const heartbeatSeconds = Number(policy.heartbeat_seconds);
      const rows = await this.db
        .selectFrom('machines')
        .innerJoin('licenses', 'licenses.id', 'machines.license_id')
        .selectAll('machines')
        .where('licenses.policy_id', '=', policy.id)
        .where('machines.last_seen_at', '<', now - graceMs - heartbeatSeconds * 1000)
        .where('machines.deactivated_at', 'is', null)
        .where((eb) => eb.or([eb('machines.file_expires_at', 'is', null), eb('machines.file_expires_at', '<=', now)]))
        .orderBy('machines.last_seen_at')
        .limit(limit)
        .execute();
      for (const row of rows) found.push({ ...row, heartbeatSeconds });
    }
    // Oldest first across the policies, as one query over all of them would give.
    return found.sort((a, b) => a.last_seen_at - b.last_seen_at || a.id - b.id).slice(0, limit);
  }

  /**
   * Deletes the machine only if it was not seen since `lastSeenAt` (another instance may have seen
   * or freed it) and no unexpired file holds it at `now` (one may have been issued meanwhile).
   */
  async deleteUnseenSince(id: number, lastSeenAt: number, now: number): Promise<boolean> {
    const result = await this.db
      .deleteFrom('machines')
      .where('id', '=', id)
      .where('last_seen_at', '<=', lastSeenAt)
      .where((eb) => eb.or([eb('file_expires_at', 'is', null), eb('file_expires_at', '<=', now)]))
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** How many machines `by` (the key holder or the owner) freed on this license since `since`. */
  async deactivationsSince(licenseId: number, by: 'key' | 'owner', since: number): Promise<number> {
    const row = await this.db
      .selectFrom('machine_deactivations')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('license_id', '=', licenseId)
      .where('by', '=', by)
      .where('time', '>=', since)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async recordDeactivation(licenseId: number, by: 'key' | 'owner', time: number): Promise<void> {
    await this.db.insertInto('machine_deactivations').values({ license_id: licenseId, by, time }).execute();
  }

  /** Forgets deactivations older than `before` (they no longer count toward any allowance). */
  async purgeDeactivations(before: number): Promise<number> {
    const result = await this.db.deleteFrom('machine_deactivations').where('time', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
