import type { Kysely } from 'kysely';
import { ApiTokenRepository } from './api-token-repository.js';
import type { ChangeFeed, Recorded, Topic } from './change-feed.js';
import type { Dialect } from './database.js';
import { AuditRepository } from './audit-repository.js';
import { LicenseRepository } from './license-repository.js';
import { MachineRepository } from './machine-repository.js';
import { PolicyRepository } from './policy-repository.js';
import { ProductRepository } from './product-repository.js';
import type { Database } from './schema.js';
import { SessionRepository } from './session-repository.js';
import { SigningKeyRepository } from './signing-key-repository.js';
import { UserRepository } from './user-repository.js';
import { WebhookRepository } from './webhook-repository.js';

/** The repositories a domain change writes through, all bound to one transaction. */
export interface TransactionRepos {
  licenses: LicenseRepository;
  products: ProductRepository;
  policies: PolicyRepository;
  machines: MachineRepository;
  users: UserRepository;
  sessions: SessionRepository;
  tokens: ApiTokenRepository;
  signingKeys: SigningKeyRepository;
  /** Endpoints, and the delivery queue: the change's webhook outbox. */
  webhooks: WebhookRepository;
  audit: AuditRepository;
  /** Announces `topic` too once the change is over (e.g. `webhooks` when it queued deliveries). */
  alsoAnnounce(topic: Topic): void;
}

/**
 * Runs a domain change in one database transaction: its writes, their audit entries and the
 * webhook deliveries they queue commit together or not at all. Inside `work`, use only the
 * repositories it is given: on SQLite the transaction holds the one connection, so a query through
 * any other repository would wait for it forever.
 */
export class Transactions {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
    private readonly changes: ChangeFeed,
  ) {}

  /**
   * Runs the change, recording its topics in the same transaction (so other processes hear of it
   * exactly when it commits), then tells this process. This process is told even when the change
   * failed part-way: a change rolled back costs a cache refill, while one applied and never
   * announced would keep checks answering from the old state. The record is the transaction's first
   * statement, a write: on SQLite the transaction holds the write lock from the start, so a read in
   * `work` never has to be upgraded to a write (which fails at once when another process wrote meanwhile).
   */
  async change<T>(topics: Topic | readonly Topic[], work: (repos: TransactionRepos) => Promise<T>): Promise<T> {
    const first = typeof topics === 'string' ? [topics] : [...topics];
    const announced = new Set<Topic>(first);
    let recorded: Map<Topic, number> | undefined;
    try {
      return await this.db.transaction().execute(async (trx) => {
        const marks: Recorded[] = [await this.changes.record(trx, first)];
        const result = await work({
          licenses: new LicenseRepository(trx),
          products: new ProductRepository(trx),
          policies: new PolicyRepository(trx),
          machines: new MachineRepository(trx),
          users: new UserRepository(trx),
          sessions: new SessionRepository(trx, this.dialect),
          tokens: new ApiTokenRepository(trx),
          signingKeys: new SigningKeyRepository(trx),
          webhooks: new WebhookRepository(trx, this.dialect),
          audit: new AuditRepository(trx),
          alsoAnnounce: (topic) => announced.add(topic),
        });
        // Topics the work added (deliveries it queued) commit with it too.
        const added = [...announced].filter((t) => !first.includes(t));
        if (added.length) marks.push(await this.changes.record(trx, added));
        recorded = new Map(marks.flatMap((m) => (m ? [...m] : [])));
        return result;
      });
    } finally {
      if (announced.size) this.changes.announceLocally([...announced], recorded);
    }
  }
}
