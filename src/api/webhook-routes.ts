import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { Services } from '../services.js';
import { actorOf } from './auth.js';
import { answerOnce } from './idempotency.js';
import { decodeCursor, PAGE_SIZE, pageOf } from '../licensing/paging.js';
import { Id } from '../licensing/schemas/common.js';
import { DeliveryStatus, WebhookCreateInput, WebhookUpdateInput } from '../licensing/schemas/webhook.js';
import { body, describe, errorResponses, IdempotencyHeaders, IdParams, NoContent, one, page, Pagination } from './schemas.js';

const DeliveryParams = Type.Object({ id: Id, deliveryId: Id }, { additionalProperties: false });

export function webhookRoutes(scope: FastifyInstance, services: Services): void {
  const api = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { webhooks, idempotency } = services;

  api.get(
    '/webhooks',
    {
      config: { scope: 'webhooks:read' },
      schema: {
        ...describe('webhooks', 'listWebhooks', 'List webhook endpoints (never their secrets)', 'webhooks:read'),
        querystring: Type.Object(Pagination, { additionalProperties: false }),
        response: { 200: page('Webhook', 'A page of webhook endpoints'), ...errorResponses() },
      },
    },
    async (req) => {
      const afterId = decodeCursor('webhooks', req.query.cursor);
      const limit = req.query.limit ?? PAGE_SIZE.default;
      const all = await webhooks.list();
      return pageOf(all.filter((w) => afterId === undefined || w.id > afterId).slice(0, limit + 1), limit, 'webhooks');
    },
  );

  api.post(
    '/webhooks',
    {
      config: { scope: 'webhooks:write' },
      schema: {
        ...describe('webhooks', 'createWebhook', 'Register an endpoint; the answer carries its signing secret, shown this once', 'webhooks:write'),
        headers: IdempotencyHeaders,
        body: body(WebhookCreateInput),
        response: { 201: one('WebhookWithSecret'), ...errorResponses(409, 422) },
      },
    },
    async (req, reply) => answerOnce(req, reply, idempotency, 201, () => webhooks.create(req.body, actorOf(req))),
  );

  api.get(
    '/webhooks/:id',
    {
      config: { scope: 'webhooks:read' },
      schema: {
        ...describe('webhooks', 'getWebhook', 'Show a webhook endpoint', 'webhooks:read'),
        params: IdParams,
        response: { 200: one('Webhook'), ...errorResponses(404) },
      },
    },
    async (req) => webhooks.get(req.params.id),
  );

  api.patch(
    '/webhooks/:id',
    {
      config: { scope: 'webhooks:write' },
      schema: {
        ...describe('webhooks', 'updateWebhook', 'Change an endpoint’s URL, events, description or active flag', 'webhooks:write'),
        params: IdParams,
        body: body(WebhookUpdateInput, { atLeastOne: true }),
        response: { 200: one('Webhook'), ...errorResponses(404) },
      },
    },
    async (req) => webhooks.update(req.params.id, req.body, actorOf(req)),
  );

  api.delete(
    '/webhooks/:id',
    {
      config: { scope: 'webhooks:write' },
      schema: {
        ...describe('webhooks', 'deleteWebhook', 'Delete an endpoint and its delivery log', 'webhooks:write'),
        params: IdParams,
        response: { 204: NoContent, ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      await webhooks.delete(req.params.id, actorOf(req));
      return reply.code(204).send(null);
    },
  );

  api.post(
    '/webhooks/:id/rotate-secret',
    {
      config: { scope: 'webhooks:write' },
      schema: {
        ...describe('webhooks', 'rotateWebhookSecret', 'Replace the signing secret; the new one is shown this once', 'webhooks:write'),
        params: IdParams,
        response: { 200: one('WebhookWithSecret'), ...errorResponses(404) },
      },
    },
    async (req) => webhooks.rotateSecret(req.params.id, actorOf(req)),
  );

  api.post(
    '/webhooks/:id/test',
    {
      config: { scope: 'webhooks:write' },
      schema: {
        ...describe('webhooks', 'testWebhook', 'Queue a `webhook.test` event to this endpoint', 'webhooks:write'),
        params: IdParams,
        response: { 202: one('Delivery', 'The queued delivery'), ...errorResponses(404, 409) },
      },
    },
    async (req, reply) => reply.code(202).send(await webhooks.test(req.params.id, actorOf(req))),
  );

  api.get(
    '/webhooks/:id/deliveries',
    {
      config: { scope: 'webhooks:read' },
      schema: {
        ...describe('webhooks', 'listWebhookDeliveries', 'The delivery log: status, attempts, last error; newest first', 'webhooks:read'),
        params: IdParams,
        querystring: Type.Object({ status: Type.Optional(DeliveryStatus), ...Pagination }, { additionalProperties: false }),
        response: { 200: page('Delivery', 'A page of deliveries'), ...errorResponses(404) },
      },
    },
    async (req) => {
      const limit = req.query.limit ?? PAGE_SIZE.default;
      const rows = await webhooks.deliveries(req.params.id, { status: req.query.status, beforeId: decodeCursor('deliveries', req.query.cursor), limit: limit + 1 });
      return pageOf(rows, limit, 'deliveries');
    },
  );

  api.get(
    '/webhooks/:id/deliveries/:deliveryId',
    {
      config: { scope: 'webhooks:read' },
      schema: {
        ...describe('webhooks', 'getWebhookDelivery', 'Show one delivery, with the body sent', 'webhooks:read'),
        params: DeliveryParams,
        response: { 200: one('Delivery'), ...errorResponses(404) },
      },
    },
    async (req) => webhooks.delivery(req.params.id, req.params.deliveryId),
  );

  api.post(
    '/webhooks/:id/deliveries/:deliveryId/resend',
    {
      config: { scope: 'webhooks:write' },
      schema: {
        ...describe('webhooks', 'resendWebhookDelivery', 'Send a delivery’s event again, as a new delivery with a fresh 24 h of retries', 'webhooks:write'),
        params: DeliveryParams,
        response: { 202: one('Delivery', 'The new delivery'), ...errorResponses(404) },
      },
    },
    async (req, reply) => reply.code(202).send(await webhooks.resend(req.params.id, req.params.deliveryId, actorOf(req))),
  );
}
