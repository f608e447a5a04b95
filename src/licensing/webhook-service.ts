import { randomBytes } from 'node:crypto';
import { KeywardError } from '../errors.js';
import type { KeyCipher } from './key.js';
import { pageSize } from './paging.js';
import { checkInput } from './schemas/check-input.js';
import { WebhookDescription, WebhookSecret, type WebhookCreate, type WebhookUpdate } from './schemas/webhook.js';
import { isDbId } from './values.js';
import type { WebhookDeliveryRow, WebhookEndpointRow, WebhookEndpointsTable } from '../storage/schema.js';
import type { TransactionRepos, Transactions } from '../storage/transactions.js';
import type { WebhookRepository } from '../storage/webhook-repository.js';
import type { Updateable } from 'kysely';
import { DEFAULT_EVENTS, TEST_EVENT, WEBHOOK_EVENTS, type WebhookEventType } from '../webhooks/events.js';
import { deliveryJson, webhookJson, type DeliveryJson, type WebhookJson } from '../webhooks/json.js';
import type { WebhookQueue } from '../webhooks/webhook-queue.js';
import { checkTargetUrl } from '../webhooks/webhook-target.js';

/**
 * Managing webhook endpoints and reading their delivery log. Every change commits in one
 * transaction with its audit entry (and the deliveries it queues), then is announced on `webhooks`.
 */
export class WebhookService {
  constructor(
    private readonly repos: { webhooks: WebhookRepository; transactions: Transactions },
    private readonly queue: WebhookQueue,
    private readonly cipher: KeyCipher,
    /** WEBHOOK_ALLOW_PRIVATE: targets may be private, loopback or link-local addresses. */
    private readonly options: { allowPrivate: boolean },
  ) {}

  /** Creates an endpoint; the answer carries its signing secret, the only time it is shown. */
  async create(input: WebhookCreate, actor: string): Promise<WebhookJson & { secret: string }> {
    const url = checkTargetUrl(input.url, this.options.allowPrivate);
    const events = checkEvents(input.events ?? DEFAULT_EVENTS);
    const description = checkDescription(input.description);
    const secret = input.secret === undefined ? `whsec_${randomBytes(24).toString('base64url')}` : checkSecret(input.secret);
    const now = Date.now();
    const json = await this.change(async (t) => {
      const row = await t.webhooks.insertEndpoint({
        url,
        description,
        secret_cipher: this.cipher.encrypt(secret),
        events: JSON.stringify(events),
        active: input.active === false ? 0 : 1,
        created_at: now,
        updated_at: now,
      });
      const created = webhookJson(row);
      await t.audit.insert({ actor, action: 'webhook.created', targetType: 'webhook', targetId: row.id, after: created }, now);
      return created;
    });
    return { ...json, secret };
  }

  async list(): Promise<WebhookJson[]> {
    return (await this.repos.webhooks.listEndpoints()).map(webhookJson);
  }

  async get(id: number): Promise<WebhookJson> {
    return webhookJson(await this.row(id));
  }

  async update(id: number, input: WebhookUpdate, actor: string): Promise<WebhookJson> {
    await this.row(id);
    const now = Date.now();
    const patch: Updateable<WebhookEndpointsTable> = { updated_at: now };
    if (input.url !== undefined) patch.url = checkTargetUrl(input.url, this.options.allowPrivate);
    if (input.events !== undefined) patch.events = JSON.stringify(checkEvents(input.events));
    if (input.description !== undefined) patch.description = checkDescription(input.description);
    if (input.active !== undefined) patch.active = input.active ? 1 : 0;
    return this.change(async (t) => {
      const before = webhookJson(await lockedRow(t.webhooks, id));
      await t.webhooks.updateEndpoint(id, patch);
      const after = webhookJson((await t.webhooks.getEndpoint(id))!);
      await t.audit.insert({ actor, action: 'webhook.updated', targetType: 'webhook', targetId: id, before, after }, now);
      return after;
    });
  }

  /** Deletes the endpoint and its delivery log; queued deliveries are not sent. */
  async delete(id: number, actor: string): Promise<void> {
    if (!isDbId(id)) throw notFound(id);
    await this.change(async (t) => {
      const before = webhookJson(await lockedRow(t.webhooks, id));
      await t.webhooks.deleteEndpoint(id);
      await t.audit.insert({ actor, action: 'webhook.deleted', targetType: 'webhook', targetId: id, before });
    });
  }

  /** Replaces the signing secret; the new one is in the answer, the only time it is shown. */
  async rotateSecret(id: number, actor: string): Promise<WebhookJson & { secret: string }> {
    if (!isDbId(id)) throw notFound(id);
    const secret = `whsec_${randomBytes(24).toString('base64url')}`;
    const json = await this.change(async (t) => {
      const now = Date.now();
      if (!(await t.webhooks.updateEndpoint(id, { secret_cipher: this.cipher.encrypt(secret), updated_at: now }))) throw notFound(id);
      await t.audit.insert({ actor, action: 'webhook.secret_rotated', targetType: 'webhook', targetId: id }, now);
      return webhookJson((await t.webhooks.getEndpoint(id))!);
    });
    return { ...json, secret };
  }

  /** The endpoint's delivery log, newest first. */
  async deliveries(endpointId: number, filter: { status?: WebhookDeliveryRow['status']; beforeId?: number; limit?: number } = {}): Promise<DeliveryJson[]> {
    await this.row(endpointId);
    const limit = pageSize(filter.limit, 50);
    return (await this.repos.webhooks.listDeliveries({ endpointId, status: filter.status, beforeId: filter.beforeId, limit })).map(deliveryJson);
  }

  async delivery(endpointId: number, deliveryId: number): Promise<DeliveryJson> {
    return deliveryJson(await this.deliveryRow(endpointId, deliveryId));
  }

  /** Sends a delivery's event again, as a new delivery with a fresh 24 h of retries. */
  async resend(endpointId: number, deliveryId: number, actor: string): Promise<DeliveryJson> {
    const original = await this.deliveryRow(endpointId, deliveryId);
    const id = await this.repos.transactions.change([], async (t) => {
      const queued = await this.queue.requeueIn(t, original);
      await t.audit.insert({ actor, action: 'webhook.delivery_resent', targetType: 'webhook', targetId: endpointId, after: { deliveryId: queued, resentFrom: deliveryId } });
      return queued;
    });
    return this.delivery(endpointId, id);
  }

  /** Queues a `webhook.test` event to this endpoint only, whatever it subscribes to. */
  async test(endpointId: number, actor: string): Promise<DeliveryJson> {
    if (!isDbId(endpointId)) throw notFound(endpointId);
    const id = await this.repos.transactions.change([], async (t) => {
      await lockedRow(t.webhooks, endpointId);
      const [queued] = await this.queue.queueIn(t, [{ type: TEST_EVENT, time: Date.now(), data: { webhookId: endpointId } }], { endpointId });
      if (queued === undefined) throw new KeywardError('conflict', `webhook ${endpointId} is inactive; activate it first`);
      await t.audit.insert({ actor, action: 'webhook.tested', targetType: 'webhook', targetId: endpointId, after: { deliveryId: queued } });
      return queued;
    });
    return this.delivery(endpointId, id);
  }

  /** The clear signing secret, for the delivery worker. */
  secretOf(row: WebhookEndpointRow): string {
    return this.cipher.decrypt(row.secret_cipher);
  }

  /** An endpoint change: announced on `webhooks`, and this process's endpoint cache forgets at once. */
  private async change<T>(work: (t: TransactionRepos) => Promise<T>): Promise<T> {
    try {
      return await this.repos.transactions.change('webhooks', work);
    } finally {
      this.queue.forgetEndpoints();
    }
  }

  private async row(id: number): Promise<WebhookEndpointRow> {
    const row = isDbId(id) ? await this.repos.webhooks.getEndpoint(id) : undefined;
    if (!row) throw notFound(id);
    return row;
  }

  private async deliveryRow(endpointId: number, deliveryId: number): Promise<WebhookDeliveryRow> {
    await this.row(endpointId);
    const row = isDbId(deliveryId) ? await this.repos.webhooks.getDelivery(deliveryId) : undefined;
    if (!row || row.endpoint_id !== endpointId) {
      throw new KeywardError('delivery_not_found', `delivery ${deliveryId} of webhook ${endpointId} does not exist`);
    }
    return row;
  }
}

const notFound = (id: number) => new KeywardError('webhook_not_found', `webhook ${id} does not exist`);

/** The endpoint, locked for the rest of the transaction (a write first, as SQLite wants). */
async function lockedRow(webhooks: WebhookRepository, id: number): Promise<WebhookEndpointRow> {
  if (!(await webhooks.lockEndpoint(id))) throw notFound(id);
  return (await webhooks.getEndpoint(id))!;
}

function checkEvents(events: readonly string[]): WebhookEventType[] {
  const unique = [...new Set(events.map((e) => e.trim()).filter(Boolean))];
  if (unique.length === 0) throw new KeywardError('invalid_input', `a webhook needs at least one event (${WEBHOOK_EVENTS.join(', ')})`);
  const unknown = unique.filter((e) => !(WEBHOOK_EVENTS as readonly string[]).includes(e));
  if (unknown.length) {
    const shown = unknown.map((e) => (e.length <= 32 ? `"${e}"` : `a value of ${e.length} characters`)).join(', ');
    throw new KeywardError('invalid_input', `unknown event ${shown}; events are ${WEBHOOK_EVENTS.join(', ')}`);
  }
  return WEBHOOK_EVENTS.filter((e) => unique.includes(e));
}

const checkDescription = (value: string | null | undefined): string | null => checkInput(WebhookDescription, value?.trim() || null, 'description');

const checkSecret = (value: string): string => checkInput(WebhookSecret, value, 'secret');
