import type { Insertable, Updateable } from 'kysely';
import { KeywardError } from '../errors.js';
import type { PolicyRepository } from '../storage/policy-repository.js';
import type { ProductRepository } from '../storage/product-repository.js';
import type { PoliciesTable } from '../storage/schema.js';
import type { TransactionRepos, Transactions } from '../storage/transactions.js';
import { policyJson } from './json.js';
import { POLICY_DEFAULTS } from './machine-rules.js';
import { checkInput } from './schemas/check-input.js';
import { PolicyCreateInput, PolicyUpdateInput, type PolicyCreate, type PolicyJson, type PolicyUpdate } from './schemas/policy.js';
import { existingProducts } from './product-service.js';
import { isDbId } from './values.js';

/**
 * Policies: templates for licenses (docs/machines.md). Each change commits in one transaction with
 * its audit entry and is announced on `policies`, so the checks of the licenses that name the
 * policy follow it within a second.
 */
export class PolicyService {
  constructor(private readonly repos: { policies: PolicyRepository; products: ProductRepository; transactions: Transactions }) {}

  async list(): Promise<PolicyJson[]> {
    return (await this.repos.policies.list()).map(policyJson);
  }

  async get(id: number): Promise<PolicyJson> {
    const row = isDbId(id) ? await this.repos.policies.get(id) : null;
    if (!row) throw notFound(id);
    return policyJson(row);
  }

  /** How many licenses name the policy. */
  async licenseCount(id: number): Promise<number> {
    await this.get(id);
    return this.repos.policies.countLicenses(id);
  }

  async create(args: PolicyCreate, actor: string): Promise<PolicyJson> {
    const input = checkInput(PolicyCreateInput, { ...args, name: args.name?.trim() ?? '' });
    const productIds = await this.checkProducts(input.productIds);
    const now = Date.now();
    const row: Insertable<PoliciesTable> = {
      name: input.name,
      duration_days: input.durationDays ?? null,
      expiry_basis: input.expiryBasis ?? POLICY_DEFAULTS.expiryBasis,
      max_machines: input.maxMachines ?? null,
      machine_identity: input.machineIdentity ?? POLICY_DEFAULTS.machineIdentity,
      auto_activate: (input.autoActivate ?? POLICY_DEFAULTS.autoActivate) ? 1 : 0,
      heartbeat_seconds: input.heartbeatSeconds ?? null,
      deactivations_per_day: input.deactivationsPerDay ?? POLICY_DEFAULTS.deactivationsPerDay,
      entitlements: JSON.stringify(uniqueCodes(input.entitlements ?? [])),
      max_uses: input.maxUses ?? null,
      created_at: now,
      updated_at: now,
    };
    return this.repos.transactions.change('policies', async (t) => {
      const id = await t.policies.insert(row, productIds);
      const created = policyJson((await t.policies.get(id))!);
      await t.audit.insert({ actor, action: 'policy.created', targetType: 'policy', targetId: id, after: created }, now);
      return created;
    });
  }

  /**
   * Changes a policy; only the fields given change. Licenses already issued keep their products and
   * expiry; every other field reaches their checks at once. A lower `maxMachines` refuses new
   * machines until fewer than the limit are active; the machines already active keep working.
   */
  async update(id: number, args: PolicyUpdate, actor: string): Promise<PolicyJson> {
    const input = checkInput(PolicyUpdateInput, { ...args, name: args.name?.trim() });
    const productIds = input.productIds && (await this.checkProducts(input.productIds));
    const now = Date.now();
    const patch: Updateable<PoliciesTable> = { updated_at: now };
    if (input.name !== undefined) patch.name = input.name;
    if (input.durationDays !== undefined) patch.duration_days = input.durationDays;
    if (input.expiryBasis !== undefined) patch.expiry_basis = input.expiryBasis;
    if (input.maxMachines !== undefined) patch.max_machines = input.maxMachines;
    if (input.machineIdentity !== undefined) patch.machine_identity = input.machineIdentity;
    if (input.autoActivate !== undefined) patch.auto_activate = input.autoActivate ? 1 : 0;
    if (input.heartbeatSeconds !== undefined) patch.heartbeat_seconds = input.heartbeatSeconds;
    if (input.deactivationsPerDay !== undefined) patch.deactivations_per_day = input.deactivationsPerDay;
    if (input.entitlements !== undefined) patch.entitlements = JSON.stringify(uniqueCodes(input.entitlements));
    if (input.maxUses !== undefined) patch.max_uses = input.maxUses;
    if (!isDbId(id)) throw notFound(id);
    return this.repos.transactions.change('policies', async (t) => {
      const before = await locked(t, id);
      await t.policies.update(id, patch, productIds);
      const after = policyJson((await t.policies.get(id))!);
      await t.audit.insert({ actor, action: 'policy.updated', targetType: 'policy', targetId: id, before, after }, now);
      return after;
    });
  }

  /** Refused while any license names the policy: those licenses would silently change what they allow. */
  async delete(id: number, actor: string): Promise<void> {
    if (!isDbId(id)) throw notFound(id);
    await this.repos.transactions.change('policies', async (t) => {
      const before = await locked(t, id);
      const using = await t.policies.countLicenses(id);
      if (using > 0) {
        throw new KeywardError('policy_in_use', `policy ${id} is used by ${using} license(s); move them to another policy or detach it first`);
      }
      await t.policies.delete(id);
      await t.audit.insert({ actor, action: 'policy.deleted', targetType: 'policy', targetId: id, before });
    });
  }

  private checkProducts(ids: readonly number[]): Promise<number[]> {
    return existingProducts(this.repos.products, ids);
  }
}

const notFound = (id: number) => new KeywardError('policy_not_found', `policy ${id} does not exist`);

/** The policy, locked for the rest of the transaction. */
async function locked(t: TransactionRepos, id: number): Promise<PolicyJson> {
  if (!(await t.policies.lock(id))) throw notFound(id);
  return policyJson((await t.policies.get(id))!);
}

/** Entitlement codes without repeats, in the order given (policies' and licenses' own). */
export const uniqueCodes = (list: readonly string[]): string[] => [...new Set(list)];
