import type { FastifyInstance } from 'fastify';
import { KeywardError } from '../../errors.js';
import type { DashboardContext } from '../context.js';
import { formOf, positiveInt, text, trimmed, wholeNumber } from '../forms.js';
import { me } from '../guards.js';
import { loadOr404, type WithId } from '../load-by-id.js';
import { actorOf } from '../request-state.js';

/** /staff/products: list, create, edit, delete (the service refuses while licenses grant it). */
export async function productRoutes(app: FastifyInstance, ctx: DashboardContext): Promise<void> {
  const { pages } = ctx;
  const { products } = ctx.services;

  const find = loadOr404(pages, 'product', 'product_not_found', (id) => products.get(id));

  app.get('/staff/products', async (req, reply) => {
    return pages.send(req, reply, 'staff/products', { title: 'Products', products: await products.list() });
  });

  app.post('/staff/products', async (req, reply) => {
    const form = formOf(req);
    const idText = trimmed(form, 'id');
    // The product service checks the number against the domain's id rules.
    const id = idText === '' ? undefined : wholeNumber(idText);
    try {
      const product = await products.create({ id, name: text(form, 'name'), description: trimmed(form, 'description') || null }, actorOf(me(req)));
      return ctx.redirect(reply, '/staff/products', 'ok', `Product ${product.id} "${product.name}" created.`);
    } catch (err) {
      if (err instanceof KeywardError) return ctx.redirect(reply, '/staff/products', 'error', err.message);
      throw err;
    }
  });

  app.get('/staff/products/:id', async (req: WithId, reply) => {
    const product = await find(req, reply);
    if (!product) return reply;
    return pages.send(req, reply, 'staff/product', { title: `Product ${product.id}`, product });
  });

  app.post('/staff/products/:id', async (req: WithId, reply) => {
    const product = await find(req, reply);
    if (!product) return reply;
    const form = formOf(req);
    try {
      await products.update(product.id, { name: text(form, 'name'), description: trimmed(form, 'description') || null }, actorOf(me(req)));
    } catch (err) {
      if (err instanceof KeywardError) return ctx.redirect(reply, `/staff/products/${product.id}`, 'error', err.message);
      throw err;
    }
    return ctx.redirect(reply, `/staff/products/${product.id}`, 'ok', 'Product saved.');
  });

  app.post('/staff/products/:id/delete', async (req: WithId, reply) => {
    const product = await find(req, reply);
    if (!product) return reply;
    const ask = pages.askFirst(req, reply, {
      heading: `Delete product ${product.id} "${product.name}"?`,
      text: 'Checks for this product id will answer NOT FOUND. A product that licenses still grant cannot be deleted.',
      action: `/staff/products/${product.id}/delete`,
      button: 'Delete product',
      cancel: `/staff/products/${product.id}`,
    });
    if (ask) return ask;
    try {
      await products.delete(product.id, actorOf(me(req)));
    } catch (err) {
      if (err instanceof KeywardError) return ctx.redirect(reply, `/staff/products/${product.id}`, 'error', err.message);
      throw err;
    }
    return ctx.redirect(reply, '/staff/products', 'ok', `Product ${product.id} deleted.`);
  });
}
