import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { Services } from '../services.js';
import { actorOf } from './auth.js';
import { answerOnce } from './idempotency.js';
import { decodeCursor, PAGE_SIZE, pageOf } from '../licensing/paging.js';
import { ProductCreateInput, ProductUpdateInput } from '../licensing/schemas/product.js';
import { body, describe, errorResponses, IdempotencyHeaders, IdParams, NoContent, one, page, Pagination } from './schemas.js';

export function productRoutes(scope: FastifyInstance, services: Services): void {
  const api = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { products, idempotency } = services;

  api.get(
    '/products',
    {
      config: { scope: 'products:read' },
      schema: {
        ...describe('products', 'listProducts', 'List products by id', 'products:read'),
        querystring: Type.Object(Pagination, { additionalProperties: false }),
        response: { 200: page('Product', 'A page of products'), ...errorResponses() },
      },
    },
    async (req) => {
      const afterId = decodeCursor('products', req.query.cursor);
      const limit = req.query.limit ?? PAGE_SIZE.default;
      // Products are few (a seller's catalogue): the page is cut from the whole list.
      const all = await products.list();
      return pageOf(all.filter((p) => afterId === undefined || p.id > afterId).slice(0, limit + 1), limit, 'products');
    },
  );

  api.post(
    '/products',
    {
      config: { scope: 'products:write' },
      schema: {
        ...describe('products', 'createProduct', 'Create a product (keep its FaxStore item id with `id`)', 'products:write'),
        headers: IdempotencyHeaders,
        body: body(ProductCreateInput),
        response: { 201: one('Product'), ...errorResponses(409, 422) },
      },
    },
    async (req, reply) => answerOnce(req, reply, idempotency, 201, () => products.create(req.body, actorOf(req))),
  );

  api.get(
    '/products/:id',
    {
      config: { scope: 'products:read' },
      schema: {
        ...describe('products', 'getProduct', 'Show a product', 'products:read'),
        params: IdParams,
        response: { 200: one('Product'), ...errorResponses(404) },
      },
    },
    async (req) => products.get(req.params.id),
  );

  api.patch(
    '/products/:id',
    {
      config: { scope: 'products:write' },
      schema: {
        ...describe('products', 'updateProduct', 'Rename or describe a product', 'products:write'),
        params: IdParams,
        body: body(ProductUpdateInput, { atLeastOne: true }),
        response: { 200: one('Product'), ...errorResponses(404) },
      },
    },
    async (req) => products.update(req.params.id, req.body, actorOf(req)),
  );

  api.delete(
    '/products/:id',
    {
      config: { scope: 'products:write' },
      schema: {
        ...describe('products', 'deleteProduct', 'Delete a product; refused (409) while a license grants it', 'products:write'),
        params: IdParams,
        response: { 204: NoContent, ...errorResponses(404, 409) },
      },
    },
    async (req, reply) => {
      await products.delete(req.params.id, actorOf(req));
      return reply.code(204).send(null);
    },
  );
}
