import type { ChangeFeed } from '../storage/change-feed.js';
import type { WebhookDeliveryRow, WebhookEndpointRow } from '../storage/schema.js';
import type { WebhookRepository } from '../storage/webhook-repository.js';
import { nextAttemptAt } from './backoff.js';
import { HttpSender, type SendOutcome } from './http-sender.js';
import { HEADERS, sign } from './signer.js';

export interface WorkerLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface DeliveryWorkerOptions {
  /** WEBHOOK_RETRY_BASE_MS: the first retry delay; each further retry doubles it. */
  retryBaseMs: number;
  /** WEBHOOK_POLL_MS: how often to look for deliveries queued by other processes. */
  pollMs: number;
  /** WEBHOOK_TIMEOUT_MS: how long one attempt may take. */
  timeoutMs: number;
  log: WorkerLog;
  /** Decrypts an endpoint's signing secret. */
  secretOf: (endpoint: WebhookEndpointRow) => string;
  /** Deliveries claimed and sent at once. */
  batchSize?: number;
  /** WEBHOOK_ALLOW_PRIVATE: also send to private, loopback and link-local addresses. */
  allowPrivate: boolean;
}

const USER_AGENT = 'Keyward-Webhooks/1';

/**
 * Sends queued deliveries; runs only in the server. Claims due rows (see
 * WebhookRepository.claim: each is sent by one instance), POSTs the signed body, and records
 * the outcome: delivered, another attempt after an exponential backoff, or failed after 24 h.
 * Wakes when deliveries are queued (the `webhooks` topic, by this process or any other), and
 * every WEBHOOK_POLL_MS. It has nothing to do with the check path.
 */
export class DeliveryWorker {
  private stopped = true;
  private running: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private nextLocalDue: number | null = null;
  private unsubscribe: (() => void)[] = [];
  private readonly leaseMs: number;
  private readonly sender: HttpSender;

  constructor(
    private readonly repo: WebhookRepository,
    private readonly changes: ChangeFeed,
    private readonly options: DeliveryWorkerOptions,
  ) {
    // Long enough that a slow receiver never sees two instances send the same attempt.
    this.leaseMs = options.timeoutMs + 30_000;
    this.sender = new HttpSender({ allowPrivate: options.allowPrivate, timeoutMs: options.timeoutMs });
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const wake = () => this.wake();
    this.unsubscribe = [this.changes.onChange('webhooks', wake)];
    this.wake();
  }

  /** Stops claiming; resolves once the deliveries in flight have their outcome recorded. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    this.sender.close();
  }

  /** Looks for due deliveries now (or right after the pass in progress). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.running = this.drain()
      .catch((err) => this.options.log.error({ err }, 'webhook delivery worker failed; will retry'))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.wake();
        } else {
          this.schedule();
        }
      });
  }

  private schedule(): void {
    if (this.stopped) return;
    let delay = this.options.pollMs;
    if (this.nextLocalDue !== null) delay = Math.max(0, Math.min(delay, this.nextLocalDue - Date.now()));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.wake();
    }, delay);
    this.timer.unref();
  }

  private async drain(): Promise<void> {
    this.nextLocalDue = null;
    const endpoints = new Map<number, Promise<WebhookEndpointRow | undefined>>();
    while (!this.stopped) {
      const rows = await this.repo.claim(Date.now(), this.leaseMs, this.options.batchSize ?? 10);
      if (rows.length === 0) return;
      await Promise.all(
        rows.map(async (row) => {
          let endpoint = endpoints.get(row.endpoint_id);
          if (!endpoint) endpoints.set(row.endpoint_id, (endpoint = this.repo.getEndpoint(row.endpoint_id)));
          await this.deliver(row, await endpoint);
        }),
      );
    }
  }

  private async deliver(row: WebhookDeliveryRow, endpoint: WebhookEndpointRow | undefined): Promise<void> {
    // A deleted endpoint's deliveries went with it (ON DELETE CASCADE).
    if (!endpoint) return;
    if (endpoint.active !== 1) {
      await this.repo.markAttemptFailed(row.id, { statusCode: null, error: 'the webhook is inactive', now: Date.now() }, null);
      return;
    }
    const outcome = await this.send(row, endpoint);
    const now = Date.now();
    if (outcome.ok) {
      await this.repo.markDelivered(row.id, { statusCode: outcome.statusCode, error: null, now });
      return;
    }
    const next = nextAttemptAt(row.attempts, now, row.retry_until, this.options.retryBaseMs);
    await this.repo.markAttemptFailed(row.id, { statusCode: outcome.statusCode, error: outcome.error, now }, next);
    if (next === null) {
      this.options.log.warn({ webhookId: endpoint.id, deliveryId: row.id, attempts: row.attempts, error: outcome.error }, 'webhook delivery failed for good');
    } else if (this.nextLocalDue === null || next < this.nextLocalDue) {
      this.nextLocalDue = next;
    }
  }

  private async send(row: WebhookDeliveryRow, endpoint: WebhookEndpointRow): Promise<SendOutcome> {
    const timestamp = Math.floor(Date.now() / 1000);
    try {
      const headers = {
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        [HEADERS.event]: row.event,
        [HEADERS.delivery]: String(row.id),
        [HEADERS.timestamp]: String(timestamp),
        [HEADERS.signature]: sign(this.options.secretOf(endpoint), timestamp, row.payload),
      };
      return await this.sender.post(endpoint.url, headers, row.payload);
    } catch (err) {
      return { ok: false, statusCode: null, error: String((err as Error)?.message ?? err).slice(0, 500) };
    }
  }
}
