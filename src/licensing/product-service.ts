import { KeywardError } from '../errors.js';
import type { AuditRepository } from '../storage/audit-repository.js';
import type { ChangeFeed } from '../storage/change-feed.js';
import type { LicenseRepository } from '../storage/license-repository.js';
import type { ProductRepository } from '../storage/product-repository.js';
import { productJson } from './json.js';
import { isUniqueViolation } from '../storage/database.js';
import { checkInput } from './schemas/check-input.js';
import { Id } from './schemas/common.js';
import { ProductCreateInput, ProductUpdateInput, type ProductCreate, type ProductJson, type ProductUpdate } from './schemas/product.js';
import { isDbId } from './values.js';

export class ProductService {
  constructor(
    private readonly repos: { products: ProductRepository; licenses: LicenseRepository; audit: AuditRepository },
    private readonly changes: ChangeFeed,
  ) {}

  async list(): Promise<ProductJson[]> {
    return (await this.repos.products.list()).map(productJson);
  }

  async get(id: number): Promise<ProductJson> {
    const row = isDbId(id) ? await this.repos.products.get(id) : undefined;
    if (!row) throw new KeywardError('product_not_found', `product ${id} does not exist`);
    return productJson(row);
  }

  async update(id: number, args: ProductUpdate, actor: string): Promise<ProductJson> {
    const input = checkInput(ProductUpdateInput, { ...args, name: args.name?.trim() });
    const before = await this.get(id);
    const patch: { name?: string; description?: string | null; updated_at: number } = { updated_at: Date.now() };
    if (input.name !== undefined) patch.name = input.name;
    if (input.description !== undefined) patch.description = input.description || null;
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

  async create(args: ProductCreate, actor: string): Promise<ProductJson> {
    const input = checkInput(ProductCreateInput, { ...args, name: args.name?.trim() ?? '' });
    const { name } = input;
    const description = input.description || null;
    // The next free id of a full table would be past the largest one.
    const id = input.id ?? checkInput(Id, await this.repos.products.nextId(), 'id');
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
