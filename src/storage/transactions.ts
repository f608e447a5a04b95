import type { Kysely } from 'kysely';
import type { ChangeFeed, Recorded, Topic } from './change-feed.js';
import type { Dialect } from './database.js';
import { AuditRepository } from './audit-repository.js';
import { LicenseRepository } from './license-repository.js';
import type { Database } from './schema.js';
import { SessionRepository } from './session-repository.js';
import { UserRepository } from './user-repository.js';

/** The repositories a domain change writes through, all bound to one transaction. */
export interface TransactionRepos {
  licenses: LicenseRepository;
  users: UserRepository;
  sessions: SessionRepository;
  audit: AuditRepository;
}

/**
 * Runs a domain change in one database transaction: its writes and their audit entries commit
 * together or not at all. Inside `work`, use only the repositories it is given: on SQLite the
 * transaction holds the one connection, so a query through any other repository would wait for it
 * forever.
 */
export class Transactions {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
    private readonly changes: ChangeFeed,
  ) {}

  /**
   * Runs the change, recording its `topics` in the same transaction (so other processes hear of
   * it exactly when it commits), then tells this process. This process is told even when the change
   * failed part-way: a change rolled back costs a cache refill, while one applied and never
   * announced would keep checks answering from the old state. The record is the transaction's first
   * statement, a write: on SQLite the transaction holds the write lock from the start, so a read in
   * `work` never has to be upgraded to a write (which fails at once when another process wrote meanwhile).
   */
  async change<T>(topics: Topic | readonly Topic[], work: (repos: TransactionRepos) => Promise<T>): Promise<T> {
    const list = typeof topics === 'string' ? [topics] : topics;
    let recorded: Recorded;
    try {
      const done = await this.db.transaction().execute(async (trx) => {
        const mark = await this.changes.record(trx, list);
        const result = await work({
          licenses: new LicenseRepository(trx),
          users: new UserRepository(trx),
          sessions: new SessionRepository(trx, this.dialect),
          audit: new AuditRepository(trx),
        });
        return { result, mark };
      });
      recorded = done.mark;
      return done.result;
    } finally {
      this.changes.announceLocally(list, recorded);
    }
  }
}
