import { KeywardError } from '../errors.js';
import { isUniqueViolation } from '../storage/database.js';
import type { ProductRepository } from '../storage/product-repository.js';
import type { TransactionRepos, Transactions } from '../storage/transactions.js';
import { productJson } from './json.js';
import { isDbId, MAX_DB_ID } from './values.js';

export interface ProductCreate {
  /** The seller's id (e.g. the FaxStore item id); the next free id when absent. */
  id?: number;
  name: string;
  description?: string | null;
}

/** Products: each change commits in one transaction with its audit entry, then is announced on `products`. */
export class ProductService {
  constructor(private readonly repos: { products: ProductRepository; transactions: Transactions }) {}

  async list() {
    return (await this.repos.products.list()).map(productJson);
  }

  async get(id: number) {
    const row = isDbId(id) ? await this.repos.products.get(id) : undefined;
    if (!row) throw notFound(id);
    return productJson(row);
  }

  async update(id: number, input: { name?: string; description?: string | null }, actor: string) {
    await this.get(id);
    const now = Date.now();
    const patch: { name?: string; description?: string | null; updated_at: number } = { updated_at: now };
    if (input.name !== undefined) patch.name = checkName(input.name);
    if (input.description !== undefined) patch.description = checkDescription(input.description);
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
      await t.products.delete(id);
      await t.audit.insert({ actor, action: 'product.deleted', targetType: 'product', targetId: id, before });
    });
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

/** The product, locked for the rest of the transaction (a write first, as SQLite wants). */
async function locked(t: TransactionRepos, id: number) {
  if (!(await t.products.lock(id))) throw notFound(id);
  return productJson((await t.products.get(id))!);
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
