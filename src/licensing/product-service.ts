import { KeywardError } from '../errors.js';
import { isUniqueViolation } from '../storage/database.js';
import type { ProductRepository } from '../storage/product-repository.js';
import type { TransactionRepos, Transactions } from '../storage/transactions.js';
import { productJson } from './json.js';
import { checkInput } from './schemas/check-input.js';
import { Id } from './schemas/common.js';
import { ProductCreateInput, ProductUpdateInput, type ProductCreate, type ProductJson, type ProductUpdate } from './schemas/product.js';
import { isDbId } from './values.js';

/** Products: each change commits in one transaction with its audit entry, then is announced on `products`. */
export class ProductService {
  constructor(private readonly repos: { products: ProductRepository; transactions: Transactions }) {}

  async list(): Promise<ProductJson[]> {
    return (await this.repos.products.list()).map(productJson);
  }

  async get(id: number): Promise<ProductJson> {
    const row = isDbId(id) ? await this.repos.products.get(id) : undefined;
    if (!row) throw notFound(id);
    return productJson(row);
  }

  async update(id: number, args: ProductUpdate, actor: string): Promise<ProductJson> {
    const input = checkInput(ProductUpdateInput, { ...args, name: args.name?.trim() });
    await this.get(id);
    const now = Date.now();
    const patch: { name?: string; description?: string | null; updated_at: number } = { updated_at: now };
    if (input.name !== undefined) patch.name = input.name;
    if (input.description !== undefined) patch.description = input.description || null;
    return this.repos.transactions.change('products', async (t) => {
      const before = await locked(t, id);
      await t.products.update(id, patch);
      const after = productJson((await t.products.get(id))!);
      await t.audit.insert({ actor, action: 'product.updated', targetType: 'product', targetId: id, before, after }, now);
      return after;
    });
  }

  /** Refused while any license grants the product: deleting it would silently break those keys. */
  async delete(id: number, actor: string): Promise<void> {
    await this.get(id);
    await this.repos.transactions.change('products', async (t) => {
      const before = await locked(t, id);
      const using = await t.licenses.countUsingProduct(id);
      if (using > 0) {
        throw new KeywardError('product_in_use', `product ${id} is granted by ${using} license(s); change or delete them first`);
      }
      const policies = await t.policies.countUsingProduct(id);
      if (policies > 0) {
        throw new KeywardError('product_in_use', `product ${id} is issued by ${policies} policy(ies); change or delete them first`);
      }
      await t.products.delete(id);
      await t.audit.insert({ actor, action: 'product.deleted', targetType: 'product', targetId: id, before });
    });
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
    const product = productJson(row);
    try {
      await this.repos.transactions.change('products', async (t) => {
        await t.products.insert(row);
        await t.audit.insert({ actor, action: 'product.created', targetType: 'product', targetId: id, after: product }, now);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new KeywardError('product_exists', `product ${id} already exists`);
      throw err;
    }
    return product;
  }
}

const notFound = (id: number) => new KeywardError('product_not_found', `product ${id} does not exist`);

/** The products named, without repeats, in order; `product_not_found` for the first that does not exist. */
export async function existingProducts(products: Pick<ProductRepository, 'ids'>, ids: readonly number[]): Promise<number[]> {
  const unique = [...new Set(ids)];
  const known = new Set(await products.ids());
  for (const id of unique) if (!known.has(id)) throw notFound(id);
  return unique;
}

/** The product, locked for the rest of the transaction (a write first, as SQLite wants). */
async function locked(t: TransactionRepos, id: number): Promise<ProductJson> {
  if (!(await t.products.lock(id))) throw notFound(id);
  return productJson((await t.products.get(id))!);
}
