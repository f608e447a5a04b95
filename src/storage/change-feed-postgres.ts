import { sql, type Kysely } from 'kysely';
import type pg from 'pg';
import type { ChangeTransport, Recorded, Topic } from './change-feed.js';
import type { Database } from './schema.js';

const CHANNEL = 'keyward_changes';

/**
 * Changes between instances on one PostgreSQL database: each change sends a NOTIFY whose payload
 * lists its topics (comma-separated); sent within the change's transaction, PostgreSQL delivers it
 * only when that commits. Each watching instance keeps one LISTEN connection.
 */
export class PostgresChangeNotify implements ChangeTransport {
  constructor(
    private readonly connectionString: string,
    private readonly driver: typeof pg,
  ) {}

  async record(db: Kysely<Database>, topics: readonly Topic[]): Promise<Recorded> {
    await sql`select pg_notify(${CHANNEL}, ${topics.join(',')})`.execute(db);
    return undefined;
  }

  watch(heard: (topics: readonly string[] | null) => void): Promise<() => Promise<void>> {
    return listen(this.connectionString, this.driver, heard);
  }
}

/**
 * Keeps one LISTEN connection open, reconnecting after a loss. `heard(null)` means "anything may
 * have changed": the gap while it was away, and again once back.
 */
async function listen(
  connectionString: string,
  driver: typeof pg,
  heard: (topics: readonly string[] | null) => void,
): Promise<() => Promise<void>> {
  let stopped = false;
  let client: pg.Client | null = null;
  let retry: NodeJS.Timeout | null = null;
  const everything = (): void => heard(null);

  const connect = async (): Promise<void> => {
    const c = new driver.Client({ connectionString });
    // An empty payload (an older Keyward) names no topic: the feed takes it as every topic.
    c.on('notification', (msg) => {
      if (msg.channel === CHANNEL) heard(msg.payload ? msg.payload.split(',') : null);
    });
    c.on('error', () => reconnect(c));
    c.on('end', () => reconnect(c));
    await c.connect();
    await c.query(`LISTEN ${CHANNEL}`);
    client = c;
  };
  const reconnect = (c: pg.Client): void => {
    if (stopped || client !== c) return;
    client = null;
    c.end().catch(() => {});
    everything();
    const attempt = (): void => {
      retry = null;
      if (stopped) return;
      connect().then(everything, () => {
        retry = setTimeout(attempt, 500);
        retry.unref();
      });
    };
    retry = setTimeout(attempt, 100);
    retry.unref();
  };

  await connect();
  return async () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    const c = client;
    client = null;
    await c?.end().catch(() => {});
  };
}
