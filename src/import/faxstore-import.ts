import type { Insertable } from 'kysely';
import { KeywardError } from '../errors.js';
import type { KeyCipher } from '../licensing/key.js';
import type { AuditRepository } from '../storage/audit-repository.js';
import type { ChangeFeed } from '../storage/change-feed.js';
import type { LicenseRepository } from '../storage/license-repository.js';
import type { ProductRepository } from '../storage/product-repository.js';
import type { LicensesTable, ProductRow } from '../storage/schema.js';
import type { UserRepository } from '../storage/user-repository.js';
import { isSnowflake, mapFaxStoreRow, rowId, type LicensePlan, type RowRef, type SkipCode, type WarningCode } from './faxstore-row.js';
import { LIMITS } from '../licensing/schemas/limits.js';
import { planOwners, type OwnerPlan } from './owners.js';
import type { FaxStoreSource } from './source.js';

export interface ImportOptions {
  /** Read and check everything, write nothing. */
  dryRun?: boolean;
  /** The product that licenses with productId 0 grant; without it they are skipped. */
  defaultProduct?: number;
  /** Who the audit entry names. */
  actor: string;
  onProgress?: (phase: 'read' | 'write', done: number, total: number) => void;
  /** Licenses written per transaction (default 5000). */
  batchSize?: number;
}

export interface ImportProblem extends RowRef {
  code: SkipCode | WarningCode;
  reason: string;
}

export interface ImportSummary {
  source: string;
  dryRun: boolean;
  /** License rows read from the source. */
  rows: number;
  licenses: {
    /** Added to Keyward (in a dry run: would be added). */
    imported: number;
    /** Their key is already in Keyward (an earlier import): left as they are. */
    alreadyPresent: number;
    skipped: number;
  };
  products: { created: number[]; existing: number[] };
  users: { created: number; linked: number };
  /** Rows not imported, each with its FaxStore id and the reason. */
  skipped: ImportProblem[];
  /** Rows imported with an assumption or a change, and product notes. */
  warnings: ImportProblem[];
  durationMs: number;
}

const READ_PAGE = 5000;
/**
 * Licenses per transaction. Larger batches rewrite fewer index pages (docs/benchmarks.md), while
 * one transaction still holds SQLite's write lock for only a few hundred ms.
 */
const WRITE_BATCH = 5000;
const NAME_MAX = LIMITS.product.name;
const ANNOUNCE_EVERY_MS = 500;

/**
 * Imports a FaxStore License System: licenses keep their exact key (stored as digest + ciphertext
 * like every key), product id, owner, flags, IP lock and counters. Products and owners are created
 * as needed. Writes go in batches, each its own transaction, through the same repositories the
 * services use; a repeated run adds nothing that is already there (matched on the key digest).
 */
export class FaxStoreImporter {
  constructor(
    private readonly repos: { licenses: LicenseRepository; products: ProductRepository; users: UserRepository; audit: AuditRepository },
    private readonly cipher: KeyCipher,
    private readonly changes: ChangeFeed,
  ) {}

  async run(source: FaxStoreSource, options: ImportOptions): Promise<ImportSummary> {
    const started = Date.now();
    const progress = options.onProgress ?? (() => {});
    const skipped: ImportProblem[] = [];
    const warnings: ImportProblem[] = [];

    // 1. Read and check every row; the first row with a key wins over later duplicates.
    const total = await source.count();
    const plans: LicensePlan[] = [];
    const seen = new Map<string, RowRef>();
    let rows = 0;
    progress('read', 0, total);
    for await (const batch of source.rows(READ_PAGE)) {
      for (const row of batch) {
        const ref: RowRef = row.line === undefined ? { id: rowId(row.id) } : { id: rowId(row.id), line: row.line };
        const result = mapFaxStoreRow(row, { defaultProduct: options.defaultProduct });
        if (!result.ok) {
          skipped.push({ ...ref, code: result.code, reason: result.reason });
          continue;
        }
        const first = seen.get(result.plan.digest);
        if (first) {
          skipped.push({ ...ref, code: 'duplicate_key', reason: `duplicate key: the same authKey as ${describeRef(first)}, which is imported` });
          continue;
        }
        seen.set(result.plan.digest, ref);
        plans.push(result.plan);
        for (const w of result.warnings) warnings.push({ ...ref, ...w });
      }
      rows += batch.length;
      progress('read', rows, Math.max(total, rows));
    }

    // 2. Products from the distinct productId/productName pairs.
    const existingProducts = new Set(await this.repos.products.ids());
    const newProducts = this.planProducts(plans, existingProducts, warnings);
    if (options.defaultProduct !== undefined && !existingProducts.has(options.defaultProduct) && !newProducts.has(options.defaultProduct)) {
      throw new KeywardError(
        'product_not_found',
        `--default-product ${options.defaultProduct}: no such product in Keyward or in the FaxStore data; create it first (keyward product create)`,
      );
    }
    const usedProducts = new Set(plans.map((p) => p.productId));

    // 3. Leave alone what an earlier run (or anyone) already stored under the same key.
    const present = await this.repos.licenses.existingDigests(plans.map((p) => p.digest));
    const todo = plans.filter((p) => !present.has(p.digest));

    // 4. Owners of the licenses to import.
    const owners = planOwners(
      todo.flatMap((p) => (p.userId === null ? [] : [p.userId])),
      await source.users(),
      await this.existingUsers(),
    );
    for (const p of todo) {
      if (p.userId === null) continue;
      const ref = p.line === undefined ? { id: p.id } : { id: p.id, line: p.line };
      const unmapped = owners.unmapped.get(p.userId);
      if (unmapped) warnings.push({ ...ref, code: 'owner', reason: `owner ${shortId(p.userId)} left out: ${unmapped}` });
      else if (owners.unknown.has(p.userId)) {
        const how = isSnowflake(p.userId) ? 'linked by its Discord id' : 'matched by its id as a username';
        warnings.push({ ...ref, code: 'owner', reason: `owner ${shortId(p.userId)} is not in FaxStore's users table; ${how}` });
      }
    }

    const summary: ImportSummary = {
      source: source.label,
      dryRun: options.dryRun === true,
      rows,
      licenses: { imported: todo.length, alreadyPresent: plans.length - todo.length, skipped: skipped.length },
      products: {
        created: [...newProducts.keys()].sort((a, b) => a - b),
        existing: [...usedProducts].filter((id) => existingProducts.has(id)).sort((a, b) => a - b),
      },
      users: { created: owners.create.length, linked: owners.linked },
      skipped,
      warnings,
      durationMs: 0,
    };
    if (options.dryRun) return { ...summary, durationMs: Date.now() - started };

    // 5. Write: products, owners, then licenses in batches.
    const now = Date.now();
    summary.products.created = (await this.repos.products.insertMissing([...newProducts.values()].map((p) => ({ ...p, created_at: now, updated_at: now }))))
      .sort((a, b) => a - b);
    const ownerIds = await this.createOwners(owners, now);
    summary.users.created = ownerIds.created;
    const batchSize = options.batchSize ?? WRITE_BATCH;
    let imported = 0;
    let lastAnnounce = Date.now();
    progress('write', 0, todo.length);
    for (let i = 0; i < todo.length; i += batchSize) {
      const batch = todo.slice(i, i + batchSize);
      imported += await this.repos.licenses.insertMany(
        batch.map((p) => ({ row: this.licenseRow(p, ownerIds.byFaxId.get(p.userId ?? '') ?? null, now), productIds: [p.productId] })),
      );
      progress('write', Math.min(i + batchSize, todo.length), todo.length);
      // Let running servers pick up what is committed so far.
      if (Date.now() - lastAnnounce >= ANNOUNCE_EVERY_MS) {
        await this.changes.announce('licenses', 'products', 'users');
        lastAnnounce = Date.now();
      }
    }
    summary.licenses.imported = imported;
    summary.licenses.alreadyPresent += todo.length - imported;
    summary.durationMs = Date.now() - started;
    await this.repos.audit.insert({
      actor: options.actor,
      action: 'import.faxstore',
      targetType: 'import',
      targetId: null,
      after: {
        source: summary.source,
        rows,
        imported,
        alreadyPresent: summary.licenses.alreadyPresent,
        skipped: skipped.length,
        warnings: warnings.length,
        productsCreated: summary.products.created,
        usersCreated: summary.users.created,
        usersLinked: summary.users.linked,
        defaultProduct: options.defaultProduct ?? null,
      },
    });
    await this.changes.announce('licenses', 'products', 'users');
    return summary;
  }

  private planProducts(plans: readonly LicensePlan[], existing: ReadonlySet<number>, warnings: ImportProblem[]): Map<number, Omit<ProductRow, 'created_at' | 'updated_at'>> {
    const names = new Map<number, Map<string, number>>();
    for (const p of plans) {
      // The default product must already exist: it is never made up from productId 0 rows.
      if (existing.has(p.productId) || p.defaulted) continue;
      const counts = names.get(p.productId) ?? new Map<string, number>();
      if (!p.defaulted && p.productName !== '') counts.set(p.productName, (counts.get(p.productName) ?? 0) + 1);
      names.set(p.productId, counts);
    }
    const products = new Map<number, Omit<ProductRow, 'created_at' | 'updated_at'>>();
    for (const [id, counts] of [...names].sort((a, b) => a[0] - b[0])) {
      // The most common name wins; ties go to the first seen.
      let name = '';
      let best = 0;
      for (const [n, c] of counts) if (c > best) [name, best] = [n, c];
      if (counts.size > 1) {
        warnings.push({ id: null, code: 'product_name', reason: `product ${id} has ${counts.size} names in FaxStore; named after the most used one` });
      }
      if (name.length > NAME_MAX) {
        warnings.push({ id: null, code: 'product_name', reason: `product ${id}: its name of ${name.length} characters was cut to ${NAME_MAX}` });
        name = `${name.slice(0, NAME_MAX - 1)}…`;
      }
      products.set(id, { id, name: name || `Product ${id}`, description: 'Imported from FaxStore' });
    }
    return products;
  }

  private async existingUsers() {
    const byDiscordId = new Map<string, number>();
    const byUsername = new Map<string, number>();
    for (const u of await this.repos.users.identities()) {
      byUsername.set(u.username, u.id);
      if (u.discord_id) byDiscordId.set(u.discord_id, u.id);
    }
    return { byDiscordId, byUsername };
  }

  /** Creates the planned owners; returns the Keyward user id of every FaxStore owner id. */
  private async createOwners(plan: OwnerPlan, now: number): Promise<{ byFaxId: Map<string, number>; created: number }> {
    const added = await this.repos.users.insertMany(
      plan.create.map((o) => ({
        username: o.username,
        email: o.email,
        password_hash: null,
        discord_id: o.discordId,
        role: 'customer' as const,
        disabled: 0,
        created_at: now,
        updated_at: now,
      })),
    );
    // Anyone created meanwhile under the same name or Discord id is linked instead.
    const existing = added.length === plan.create.length ? null : await this.existingUsers();
    const byName = new Map(added.map((u) => [u.username, u.id]));
    const idOf = (index: number): number | undefined => {
      const owner = plan.create[index]!;
      return byName.get(owner.username) ?? (owner.discordId ? existing?.byDiscordId.get(owner.discordId) : undefined) ?? existing?.byUsername.get(owner.username);
    };
    const byFaxId = new Map<string, number>();
    for (const [faxId, link] of plan.links) {
      const id = 'userId' in link ? link.userId : idOf(link.create);
      if (id !== undefined) byFaxId.set(faxId, id);
    }
    return { byFaxId, created: added.length };
  }

  private licenseRow(p: LicensePlan, ownerId: number | null, now: number): Insertable<LicensesTable> {
    return {
      key_digest: p.digest,
      key_cipher: this.cipher.encrypt(p.key),
      owner_id: ownerId,
      active: p.active ? 1 : 0,
      disabled: p.disabled ? 1 : 0,
      ip_locked: p.ipLocked ? 1 : 0,
      ips: JSON.stringify(p.ips),
      expires_at: null,
      note: p.note,
      total_checks: p.totalChecks,
      last_check_at: p.lastCheckAt,
      last_ip: null,
      created_at: now,
      updated_at: now,
    };
  }
}

export const describeRef = (ref: RowRef): string =>
  ref.id !== null ? `FaxStore license #${ref.id}` : ref.line !== undefined ? `line ${ref.line}` : 'a row without id';

/** Owner ids are Discord ids, not secrets, but a pasted key must never be echoed. */
const shortId = (value: string): string => (value.length <= 24 ? value : `of ${value.length} characters`);
