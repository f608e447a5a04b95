import type { Kysely } from 'kysely';
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
  ) {}

  run<T>(work: (repos: TransactionRepos) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) =>
      work({
        licenses: new LicenseRepository(trx),
        users: new UserRepository(trx),
        sessions: new SessionRepository(trx, this.dialect),
        audit: new AuditRepository(trx),
      }),
    );
  }
}
