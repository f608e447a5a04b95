import type { Kysely } from 'kysely';

/**
 * Every check writes a Previous Auths row, and every index on auth_logs is one more B-tree insert
 * per check. `auth_logs_time_idx (time)` is a prefix of `auth_logs_time_status_idx (time, status)`
 * (0005), which serves every query by time as well, so the narrower one goes.
 */
export const leanAuthLogIndexes = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.dropIndex('auth_logs_time_idx').ifExists().execute();
  },
};
