import type { Kysely } from 'kysely';
import { AuthLogRepository, type AuthLogStorage } from '../storage/auth-log-repository.js';
import { LicenseRepository } from '../storage/license-repository.js';
import type { Database } from '../storage/schema.js';
import type { CheckEventTap } from './check-events.js';

/**
 * The check path's repositories, telling the tap what they wrote after it is committed. The
 * check never waits for these writes (write-behind, background IP binding), so the tap adds
 * nothing to a check's latency; it only pushes to an in-memory buffer.
 */
export class TappedAuthLogRepository extends AuthLogRepository {
  constructor(
    storage: AuthLogStorage,
    private readonly tap: CheckEventTap,
  ) {
    super(storage);
  }

  override async writeBatch(...args: Parameters<AuthLogRepository['writeBatch']>): Promise<void> {
    await super.writeBatch(...args);
    this.tap.checksWritten(args[0]);
  }
}

export class TappedLicenseRepository extends LicenseRepository {
  constructor(
    db: Kysely<Database>,
    private readonly tap: CheckEventTap,
  ) {
    super(db);
  }

  /** Only the instance whose UPDATE bound the IP reports it, so the event is sent once. */
  override async bindIp(id: number, ips: string, now: number): Promise<boolean> {
    const won = await super.bindIp(id, ips, now);
    if (won) this.tap.ipBound(id, ips, now);
    return won;
  }
}
