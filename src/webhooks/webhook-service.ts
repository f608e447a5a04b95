import { randomBytes } from 'node:crypto';
import { KeywardError } from '../errors.js';
import type { KeyCipher } from '../licensing/key.js';
import { pageSize } from '../licensing/paging.js';
import { checkInput } from '../licensing/schemas/check-input.js';
import { WebhookDescription, WebhookSecret, type WebhookCreate, type WebhookUpdate } from '../licensing/schemas/webhook.js';
import { isDbId } from '../licensing/values.js';
import type { AuditRepository } from '../storage/audit-repository.js';
import type { WebhookDeliveryRow, WebhookEndpointRow, WebhookEndpointsTable } from '../storage/schema.js';
import type { WebhookRepository } from '../storage/webhook-repository.js';
import type { Updateable } from 'kysely';
import { DEFAULT_EVENTS, TEST_EVENT, WEBHOOK_EVENTS, type WebhookEventType } from './events.js';
import { deliveryJson, webhookJson, type DeliveryJson, type WebhookJson } from './json.js';
import type { WebhookQueue } from './webhook-queue.js';
import { checkTargetUrl } from './webhook-target.js';

/** Managing webhook endpoints and reading their delivery log; every change is audited. */
export class WebhookService {
  constructor(
    private readonly repos: { webhooks: WebhookRepository; audit: AuditRepository },
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
    const row = await this.repos.webhooks.insertEndpoint({
      url,
      description,
      secret_cipher: this.cipher.encrypt(secret),
      events: JSON.stringify(events),
      active: input.active === false ? 0 : 1,
      created_at: now,
      updated_at: now,
    });
    const json = webhookJson(row);
    await this.repos.audit.insert({ actor, action: 'webhook.created', targetType: 'webhook', targetId: row.id, after: json }, now);
    this.queue.forgetEndpoints();
    return { ...json, secret };
  }

  async list(): Promise<WebhookJson[]> {
    return (await this.repos.webhooks.listEndpoints()).map(webhookJson);
  }

  async get(id: number): Promise<WebhookJson> {
    return webhookJson(await this.row(id));
  }

  async update(id: number, input: WebhookUpdate, actor: string): Promise<WebhookJson> {
    const before = webhookJson(await this.row(id));
    const patch: Updateable<WebhookEndpointsTable> = { updated_at: Date.now() };
    if (input.url !== undefined) patch.url = checkTargetUrl(input.url, this.options.allowPrivate);
    if (input.events !== undefined) patch.events = JSON.stringify(checkEvents(input.events));
    if (input.description !== undefined) patch.description = checkDescription(input.description);
    if (input.active !== undefined) patch.active = input.active ? 1 : 0;
    await this.repos.webhooks.updateEndpoint(id, patch);
    const after = await this.get(id);
    await this.repos.audit.insert({ actor, action: 'webhook.updated', targetType: 'webhook', targetId: id, before, after });
    this.queue.forgetEndpoints();
    return after;
  }

  /** Deletes the endpoint and its delivery log; queued deliveries are not sent. */
  async delete(id: number, actor: string): Promise<void> {
    const before = await this.get(id);
    if (!(await this.repos.webhooks.deleteEndpoint(id))) throw notFound(id);
    await this.repos.audit.insert({ actor, action: 'webhook.deleted', targetType: 'webhook', targetId: id, before });
    this.queue.forgetEndpoints();
  }

  /** Replaces the signing secret; the new one is in the answer, the only time it is shown. */
  async rotateSecret(id: number, actor: string): Promise<WebhookJson & { secret: string }> {
    await this.row(id);
    const secret = `whsec_${randomBytes(24).toString('base64url')}`;
    await this.repos.webhooks.updateEndpoint(id, { secret_cipher: this.cipher.encrypt(secret), updated_at: Date.now() });
    await this.repos.audit.insert({ actor, action: 'webhook.secret_rotated', targetType: 'webhook', targetId: id });
    return { ...(await this.get(id)), secret };
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
    const id = await this.queue.requeue(original);
    await this.repos.audit.insert({ actor, action: 'webhook.delivery_resent', targetType: 'webhook', targetId: endpointId, after: { deliveryId: id, resentFrom: deliveryId } });
    return this.delivery(endpointId, id);
  }

  /** Queues a `webhook.test` event to this endpoint only, whatever it subscribes to. */
  async test(endpointId: number, actor: string): Promise<DeliveryJson> {
    await this.row(endpointId);
    const [id] = await this.queue.enqueue([{ type: TEST_EVENT, time: Date.now(), data: { webhookId: endpointId } }], { endpointId });
    if (id === undefined) throw new KeywardError('conflict', `webhook ${endpointId} is inactive; activate it first`);
    await this.repos.audit.insert({ actor, action: 'webhook.tested', targetType: 'webhook', targetId: endpointId, after: { deliveryId: id } });
    return this.delivery(endpointId, id);
  }

  /** The clear signing secret, for the delivery worker. */
  secretOf(row: WebhookEndpointRow): string {
    return this.cipher.decrypt(row.secret_cipher);
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
