import { LRUCache } from 'lru-cache';
import { digestKey, KEY_MAX_LENGTH } from '../licensing/key.js';
import { compileAllowList } from '../licensing/ip-allow-list.js';
import type { FileOutcome, FileRequest, LicenseSource, UsageOutcome } from '../licensing/check-license.js';
import { machineRules } from '../licensing/machine-rules.js';
import { parseStringList } from '../licensing/json.js';
import type { ActivationMode, ActivationOutcome, DeactivationStatus, MachineDetails } from '../licensing/machine-rules.js';
import type { KnownMachine, LicenseSnapshot } from '../licensing/validate-license.js';
import type { MachineRepository } from './machine-repository.js';
import type { PolicyRepository } from './policy-repository.js';
import type { ChangeFeed } from './change-feed.js';
import { parseIps, type LicenseRepository } from './license-repository.js';
import type { ProductRepository } from './product-repository.js';
import type { LicenseRow } from './schema.js';

const MISSING = Symbol('missing');
type Entry = LicenseSnapshot | typeof MISSING;

/**
 * Binds a locked license's first IP and records it, as one change that is announced (the domain's
 * FirstIpBind, plugged in by server.ts): true when this call bound it.
 */
export type BindFirstIp = (licenseId: number, ip: string, now: number) => Promise<boolean>;

/**
 * The domain's machine and first-use operations (plugged in by server.ts), which the check path
 * calls when its cached view cannot answer: a new machine, a deactivation, a first use.
 */
export interface CheckPathWrites {
  activateMachine(licenseId: number, fingerprint: string, details: MachineDetails, mode: ActivationMode, now: number): Promise<ActivationOutcome | null>;
  deactivateMachine(licenseId: number, fingerprint: string, now: number): Promise<{ status: DeactivationStatus; machine: KnownMachine | null } | null>;
  /** Returns the expiry the license has once started (null: gone or perpetual). */
  startFirstUse(licenseId: number, now: number): Promise<number | null>;
  use(licenseId: number, increment: number, now: number): Promise<UsageOutcome | null>;
  uses(licenseId: number): Promise<number | null>;
  issueFile(licenseId: number, key: string, fingerprint: string | null, machineId: number | null, file: FileRequest, now: number): Promise<FileOutcome | null>;
}

export interface LicenseCacheOptions {
  maxEntries: number;
  bindFirstIp: BindFirstIp;
  writes: CheckPathWrites;
  onError?: (err: unknown) => void;
}

/**
 * The check path's view of licenses and products: an LRU of licenses by key (unknown keys
 * included) and the set of product ids. The key is hashed only on a miss, to read the database
 * by digest; as the LRU's index it lives only in this process's memory, never on disk or in a
 * log. Every change to licenses or products empties it; a generation counter keeps a read that
 * raced with a change from caching what it saw.
 */
export class LicenseCache implements LicenseSource {
  private readonly licenses: LRUCache<string, Entry>;
  private readonly loading = new Map<string, Promise<LicenseSnapshot | null>>();
  private products: ReadonlySet<number> | null = null;
  private productsLoading: Promise<ReadonlySet<number>> | null = null;
  private generation = 0;
  /** First-use clocks being started, by license id: concurrent first checks share one write. */
  private readonly starting = new Map<number, Promise<void>>();
  /** Lookups answered from memory, and those that read the database (or joined a read under way): for /metrics. */
  hits = 0;
  misses = 0;

  constructor(
    private readonly repos: { licenses: LicenseRepository; products: ProductRepository; policies: PolicyRepository; machines: MachineRepository },
    changes: ChangeFeed,
    private readonly options: LicenseCacheOptions,
  ) {
    this.licenses = new LRUCache<string, Entry>({ max: options.maxEntries });
    changes.onChange(['licenses', 'products', 'policies', 'machines'], () => this.invalidate());
  }

  invalidate(): void {
    this.generation++;
    this.licenses.clear();
    this.loading.clear();
    this.products = null;
    this.productsLoading = null;
  }

  productIds(): ReadonlySet<number> | Promise<ReadonlySet<number>> {
    if (this.products) return this.products;
    if (!this.productsLoading) {
      const generation = this.generation;
      const loading = this.repos.products.ids().then((ids) => {
        const set = new Set(ids);
        if (generation === this.generation) this.products = set;
        if (this.productsLoading === loading) this.productsLoading = null;
        return set;
      });
      loading.catch(() => {
        if (this.productsLoading === loading) this.productsLoading = null;
      });
      this.productsLoading = loading;
    }
    return this.productsLoading;
  }

  findByKey(key: string): LicenseSnapshot | null | Promise<LicenseSnapshot | null> {
    // No license is stored under a longer key (checkKeyFormat), so it is unknown without a lookup.
    if (key.length > KEY_MAX_LENGTH) return null;
    const hit = this.licenses.get(key);
    if (hit !== undefined) {
      this.hits++;
      return hit === MISSING ? null : hit;
    }
    this.misses++;
    let pending = this.loading.get(key);
    if (!pending) {
      const generation = this.generation;
      pending = this.load(key).then(
        (snapshot) => {
          if (generation === this.generation) {
            this.licenses.set(key, snapshot ?? MISSING);
            this.loading.delete(key);
          }
          return snapshot;
        },
        (err) => {
          if (this.loading.get(key) === pending) this.loading.delete(key);
          throw err;
        },
      );
      this.loading.set(key, pending);
    }
    return pending;
  }

  activateMachine(license: LicenseSnapshot, fingerprint: string, details: MachineDetails, mode: ActivationMode, now: number): Promise<ActivationOutcome | null> {
    // The change is announced either way, which empties this cache: the next check reads the new state.
    return this.options.writes.activateMachine(license.id, fingerprint, details, mode, now);
  }

  deactivateMachine(license: LicenseSnapshot, fingerprint: string, now: number): Promise<{ status: DeactivationStatus; machine: KnownMachine | null } | null> {
    return this.options.writes.deactivateMachine(license.id, fingerprint, now);
  }

  startFirstUse(license: LicenseSnapshot, now: number): Promise<void> {
    let pending = this.starting.get(license.id);
    if (!pending) {
      pending = this.options.writes.startFirstUse(license.id, now).then(
        (expiresAt) => {
          license.expiresAt = expiresAt;
          license.firstUseDays = null;
          this.starting.delete(license.id);
        },
        (err: unknown) => {
          this.starting.delete(license.id);
          throw err;
        },
      );
      this.starting.set(license.id, pending);
    }
    return pending;
  }

  use(license: LicenseSnapshot, increment: number, now: number): Promise<UsageOutcome | null> {
    // Usage is counted in the database (atomically, across instances); no cached license holds it.
    return this.options.writes.use(license.id, increment, now);
  }

  async uses(license: LicenseSnapshot): Promise<number> {
    return (await this.options.writes.uses(license.id)) ?? 0;
  }

  issueFile(license: LicenseSnapshot, key: string, fingerprint: string | null, machine: KnownMachine | null, file: FileRequest, now: number): Promise<FileOutcome | null> {
    return this.options.writes.issueFile(license.id, key, fingerprint, machine?.id ?? null, file, now);
  }

  /**
   * A license by key as the check path holds it: with its feature codes and usage limit, and its
   * machine rules and machines when it tracks any.
   */
  private async load(key: string): Promise<LicenseSnapshot | null> {
    const row = await this.repos.licenses.findByDigest(digestKey(key));
    if (!row) return null;
    const snapshot = toSnapshot(row, row.productIds);
    if (row.first_use_days !== null) snapshot.firstUseDays = row.first_use_days;
    const own = row.entitlements === '[]' ? [] : parseStringList(row.entitlements);
    if (own.length) snapshot.entitlements = new Set(own);
    if (row.max_uses !== null) snapshot.maxUses = Number(row.max_uses);
    if (row.policy_id === null && row.max_machines === null) return snapshot;
    const policy = row.policy_id === null ? null : await this.repos.policies.get(row.policy_id);
    if (policy) {
      // A license's own codes add to its policy's; its own limit wins over its policy's.
      const codes = parseStringList(policy.entitlements);
      if (codes.length) snapshot.entitlements = new Set([...codes, ...own]);
      if (row.max_uses === null && policy.max_uses !== null) snapshot.maxUses = Number(policy.max_uses);
    }
    const rules = machineRules(row, policy);
    if (rules) {
      const known = new Map<string, KnownMachine>();
      const held = new Map<string, number>();
      for (const m of await this.repos.machines.listOf(row.id)) {
        if (m.deactivated_at === null) known.set(m.fingerprint, m);
        else if (m.file_expires_at !== null) held.set(m.fingerprint, m.file_expires_at);
      }
      snapshot.machines = held.size ? { rules, known, held } : { rules, known };
    }
    return snapshot;
  }

  bindIp(license: LicenseSnapshot, ip: string): void {
    // The cached snapshot binds at once, so the next check from another IP is already refused.
    license.ips = [ip];
    license.ranges = compileAllowList(license.ips);
    // After the answer, off its path; the bind's announcement (made either way) empties this cache.
    this.options.bindFirstIp(license.id, ip, Date.now()).catch((err: unknown) => {
      this.invalidate();
      this.options.onError?.(err);
    });
  }
}

function toSnapshot(row: LicenseRow, productIds: number[]): LicenseSnapshot {
  const ips = parseIps(row.ips);
  return {
    id: row.id,
    productIds,
    active: row.active === 1,
    disabled: row.disabled === 1,
    ipLocked: row.ip_locked === 1,
    ips,
    ranges: compileAllowList(ips),
    expiresAt: row.expires_at,
  };
}
