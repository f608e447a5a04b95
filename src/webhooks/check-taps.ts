import { AuthLogRepository, type AuthLogStorage } from '../storage/auth-log-repository.js';
import type { CheckEventTap } from './check-events.js';

/**
 * The check path's Previous Auths repository, telling the tap what it wrote after it is committed.
 * The check never waits for these writes (write-behind), so the tap adds nothing to a check's
 * latency; it only pushes to an in-memory buffer. (First-IP binds tell it through FirstIpBind.)
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
