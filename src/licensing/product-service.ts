import { KeywardError } from '../errors.js';
import type { AuditRepository } from '../storage/audit-repository.js';
import type { ChangeFeed } from '../storage/change-feed.js';
import type { LicenseRepository } from '../storage/license-repository.js';
import type { ProductRepository } from '../storage/product-repository.js';
import { productJson } from './json.js';
import { isUniqueViolation } from '../storage/database.js';

import { isDbId, MAX_DB_ID } from './values.js';

export interface ProductCreate {
  /** The seller's id (e.g. the FaxStore item id); the next free id when absent. */
  id?: number;
  name: string;
  description?: string | null;
}

export class ProductService {
  constructor(
    private readonly repos: { products: ProductRepository; licenses: LicenseRepository; audit: AuditRepository },
    private readonly changes: ChangeFeed,
  ) {}

  async list() {
    return (await this.repos.products.list()).map(productJson);
  }

  async get(id: number) {
    const row = isDbId(id) ? await this.repos.products.get(id) : undefined;
    if (!row) throw new KeywardError('product_not_found', `product ${id} does not exist`);
    return productJson(row);
  }

  async update(id: number, input: { name?: string; description?: string | null }, actor: string) {
    const before = await this.get(id);
    const patch: { name?: string; description?: string | null; updated_at: number } = { updated_at: Date.now() };
    if (input.name !== undefined) patch.name = checkName(input.name);
    if (input.description !== undefined) patch.description = checkDescription(input.description);
    await this.repos.products.update(id, patch);
    const after = await this.get(id);
    await this.repos.audit.insert({ actor, action: 'product.updated', targetType: 'product', targetId: id, before, after });
    await this.changes.announce('products');
    return after;
  }

  /** Refused while any license grants the product: deleting it would silently break those keys. */
  async delete(id: number, actor: string): Promise<void> {
    const before = await this.get(id);
    const using = await this.repos.licenses.countUsingProduct(id);
    if (using > 0) {
      throw new KeywardError('product_in_use', `product ${id} is granted by ${using} license(s); change or delete them first`);
    }
    await this.repos.products.delete(id);
    await this.repos.audit.insert({ actor, action: 'product.deleted', targetType: 'product', targetId: id, before });
    await this.changes.announce('products');
  }

  async create(input: ProductCreate, actor: string) {
    const name = checkName(input.name);
    const description = checkDescription(input.description);
    const id = input.id ?? (await this.repos.products.nextId());
    if (!Number.isInteger(id) || id < 1 || id > MAX_DB_ID) {
      throw new KeywardError('invalid_input', `a product id is a whole number from 1 to ${MAX_DB_ID}`);
    }
    if (await this.repos.products.get(id)) throw new KeywardError('product_exists', `product ${id} already exists`);
    const now = Date.now();
    const row = { id, name, description, created_at: now, updated_at: now };
    try {
      await this.repos.products.insert(row);
    } catch (err) {
      if (isUniqueViolation(err)) throw new KeywardError('product_exists', `product ${id} already exists`);
      throw err;
    }
    const product = productJson(row);
    await this.repos.audit.insert({ actor, action: 'product.created', targetType: 'product', targetId: id, after: product }, now);
    await this.changes.announce('products');
    return product;
  }
}

function checkName(value: string | undefined): string {
  const name = value?.trim() ?? '';
  if (!name) throw new KeywardError('invalid_input', 'a product needs a name');
  if (name.length > 200) throw new KeywardError('invalid_input', 'a product name is at most 200 characters');
  return name;
}

function checkDescription(value: string | null | undefined): string | null {
  if (value && value.length > 2000) throw new KeywardError('invalid_input', 'a product description is at most 2000 characters');
  return value || null;
}
