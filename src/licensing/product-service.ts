import { KeywardError } from '../errors.js';
import type { AuditRepository } from '../storage/audit-repository.js';
import type { ChangeFeed } from '../storage/change-feed.js';
import type { ProductRepository } from '../storage/product-repository.js';
import { productJson } from './json.js';
import { isUniqueViolation } from '../storage/database.js';

import { MAX_DB_ID } from './values.js';

export interface ProductCreate {
  /** The seller's id (e.g. the FaxStore item id); the next free id when absent. */
  id?: number;
  name: string;
  description?: string | null;
}

export class ProductService {
  constructor(
    private readonly repos: { products: ProductRepository; audit: AuditRepository },
    private readonly changes: ChangeFeed,
  ) {}

  async list() {
    return (await this.repos.products.list()).map(productJson);
  }

  async create(input: ProductCreate, actor: string) {
    const name = input.name?.trim() ?? '';
    if (!name) throw new KeywardError('invalid_input', 'a product needs a name');
    if (name.length > 200) throw new KeywardError('invalid_input', 'a product name is at most 200 characters');
    if (input.description && input.description.length > 2000) {
      throw new KeywardError('invalid_input', 'a product description is at most 2000 characters');
    }
    const id = input.id ?? (await this.repos.products.nextId());
    if (!Number.isInteger(id) || id < 1 || id > MAX_DB_ID) {
      throw new KeywardError('invalid_input', `a product id is a whole number from 1 to ${MAX_DB_ID}`);
    }
    if (await this.repos.products.get(id)) throw new KeywardError('product_exists', `product ${id} already exists`);
    const now = Date.now();
    const row = { id, name, description: input.description || null, created_at: now, updated_at: now };
    try {
      await this.repos.products.insert(row);
    } catch (err) {
      if (isUniqueViolation(err)) throw new KeywardError('product_exists', `product ${id} already exists`);
      throw err;
    }
    const product = productJson(row);
    await this.repos.audit.insert({ actor, action: 'product.created', targetType: 'product', targetId: id, after: product }, now);
    await this.changes.announce();
    return product;
  }
}
