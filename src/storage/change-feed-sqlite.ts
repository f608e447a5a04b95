import { sql, type Kysely } from 'kysely';
import type { ChangeTransport, Recorded, Topic } from './change-feed.js';
import type { Database } from './schema.js';

/** How often a process looks for other processes' changes; a change reaches it within this. */
const POLL_MS = 200;

/**
 * Changes between processes on one SQLite file: each change bumps its topics' rows in
 * `change_versions` within its own transaction, and each watching process reads the rows every
 * 200 ms and hears of the topics whose version moved. Writes that bump nothing (Previous Auths
 * batches, counters, sessions) are heard by no one.
 */
export class SqliteChangeVersions implements ChangeTransport {
  /** The versions this process has acted on; null while not watching. */
  private seen: Map<string, number> | null = null;

  constructor(private readonly db: Kysely<Database>) {}

  async record(db: Kysely<Database>, topics: readonly Topic[]): Promise<Recorded> {
    // An upsert, so a topic added after the table was seeded still gets its row.
    const rows = await db
      .insertInto('change_versions')
      .values(topics.map((topic) => ({ topic, version: 1 })))
      .onConflict((oc) => oc.column('topic').doUpdateSet({ version: sql<number>`change_versions.version + 1` }))
      .returning(['topic', 'version'])
      .execute();
    return new Map(rows.map((r) => [r.topic as Topic, r.version]));
  }

  own(recorded: Recorded): void {
    if (!this.seen || !recorded) return;
    // Only when no other process bumped the topic since we last looked: its change must still be heard.
    for (const [topic, version] of recorded) {
      if (this.seen.get(topic) === version - 1) this.seen.set(topic, version);
    }
  }

  async watch(heard: (topics: readonly string[] | null) => void): Promise<() => Promise<void>> {
    this.seen = await this.versions();
    let stopped = false;
    let polling = false;
    const timer = setInterval(() => {
      if (polling) return;
      polling = true;
      // Through Kysely, so the read waits for a transaction this process has open instead of seeing it half done.
      this.versions()
        .then((now) => {
          if (stopped || !this.seen) return;
          const moved: string[] = [];
          for (const [topic, version] of now) if (this.seen.get(topic) !== version) moved.push(topic);
          this.seen = now;
          if (moved.length) heard(moved);
        })
        // A failed read (the database busy or closing) is retried on the next tick, nothing lost.
        .catch(() => {})
        .finally(() => {
          polling = false;
        });
    }, POLL_MS);
    timer.unref();
    return async () => {
      stopped = true;
      clearInterval(timer);
      this.seen = null;
    };
  }

  private async versions(): Promise<Map<string, number>> {
    const rows = await this.db.selectFrom('change_versions').select(['topic', 'version']).execute();
    return new Map(rows.map((r) => [r.topic, r.version]));
  }
}
