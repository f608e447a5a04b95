import { sql } from 'kysely';
import { afterAll, afterEach, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { openServices, type Internals, type Services } from '../src/services.js';
import { Transactions } from '../src/storage/transactions.js';
import { TOPICS, type Topic } from '../src/storage/change-feed.js';
import type { TestDatabase } from './helpers/dialects.js';
import { describeEachIsolatedDialect } from './helpers/isolated-dialects.js';
import { until } from './helpers/wait.js';

/** Longer than a few SQLite polls (200 ms each) and a NOTIFY round trip on a busy machine. */
const QUIET_MS = 800;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Two processes' worth of services on one database: `a` watches (as a server does), `b` changes things (as the CLI does). */
describeEachIsolatedDialect('the change feed between processes ($name)', (create, name) => {
  let db: TestDatabase | undefined;
  type Opened = Services & Pick<Internals, 'storage'> & { authLogs: Internals['checkPath']['authLogs']; transactions: Transactions };
  const opened: Opened[] = [];
  const open = async (): Promise<Opened> => {
    db ??= await create();
    const { services, internal } = await openServices(loadConfig(db.env, { dotenv: false }));
    const { storage } = internal;
    const s = { ...services, storage, authLogs: internal.checkPath.authLogs, transactions: new Transactions(storage.db, storage.dialect, storage.changes) };
    opened.push(s);
    return s;
  };
  /** What `services`' listeners heard, per topic. */
  const listen = (services: Opened) => {
    const heard = Object.fromEntries(TOPICS.map((t) => [t, 0])) as Record<Topic, number>;
    for (const topic of TOPICS) services.storage.changes.onChange(topic, () => heard[topic]++);
    return heard;
  };
  const only = (topics: Partial<Record<Topic, true>>, heard: Record<Topic, number>) =>
    TOPICS.filter((t) => (topics[t] ? heard[t] === 0 : heard[t] !== 0));

  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
  });
  afterAll(async () => {
    await db?.cleanup();
  });

  it('a change to one topic wakes that topic’s listeners in the other process, and no others', async () => {
    const a = await open();
    const b = await open();
    await a.storage.changes.watch();
    const heard = listen(a);

    await b.products.create({ id: 8, name: 'Script' }, 'test'); // announced on its own: products
    await until(() => heard.products, (n) => n > 0);
    await sleep(QUIET_MS);
    expect(only({ products: true }, heard)).toEqual([]);

    heard.products = 0;
    await b.licenses.create({ productIds: [8] }, 'test'); // a transaction: licenses
    await until(() => heard.licenses, (n) => n > 0);
    await sleep(QUIET_MS);
    expect(only({ licenses: true }, heard)).toEqual([]);
  });

  it('a Previous Auths batch (log rows and counters) from the other process wakes no one', async () => {
    const a = await open();
    const b = await open();
    const license = await b.licenses.create({ productIds: [8] }, 'test');
    await a.storage.changes.watch();
    const heard = listen(a);

    for (let i = 0; i < 5; i++) {
      const time = Date.now();
      const row = { time, license_id: license.id, product_id: 8, ip: '192.0.2.1', status: 'AUTHORISED', info: null, user_agent: null };
      await b.authLogs.writeBatch([row], new Map([[license.id, { checks: 1, lastCheckAt: time, lastIp: '192.0.2.1' }]]));
      await sleep(250);
    }
    expect((await a.licenses.show(license.id)).totalChecks).toBe(5);
    await sleep(QUIET_MS);
    expect(heard).toEqual(Object.fromEntries(TOPICS.map((t) => [t, 0])));
  });

  it('a change rolled back is not announced to other processes (this one still drops its copies)', async () => {
    const a = await open();
    const b = await open();
    const license = await b.licenses.create({ productIds: [8] }, 'test');
    await a.storage.changes.watch();
    const heardByA = listen(a);
    const heardByB = listen(b);

    const failing = b.transactions.change('licenses', async (t) => {
      await t.licenses.update(license.id, { note: 'rolled back', updated_at: Date.now() });
      throw new Error('refused after writing');
    });
    await expect(failing).rejects.toThrow('refused after writing');
    expect(heardByB.licenses).toBe(1);
    await sleep(QUIET_MS);
    expect(heardByA.licenses).toBe(0);
    expect((await a.licenses.show(license.id)).note).not.toBe('rolled back');
  });

  if (name === 'sqlite') {
    it('a process does not hear its own change a second time through the version rows', async () => {
      const b = await open();
      await b.storage.changes.watch();
      const heard = listen(b);
      await b.products.create({ id: 9, name: 'Own' }, 'test');
      await b.licenses.create({ productIds: [9] }, 'test');
      await sleep(QUIET_MS);
      expect(heard.products).toBe(1);
      expect(heard.licenses).toBe(1);
    });
  }

  if (name === 'postgres') {
    it('a lost LISTEN connection counts as a change of every topic, and the feed listens again', async () => {
      const a = await open();
      const b = await open();
      await a.storage.changes.watch();
      const heard = listen(a);
      // The only LISTEN connection on this database is a's.
      await sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query like ${'LISTEN%'}`.execute(
        b.storage.db,
      );
      await until(() => heard, (h) => TOPICS.every((t) => h[t] > 0));
      expect(TOPICS.filter((t) => heard[t] === 0)).toEqual([]);

      // Reconnected: a change is heard again, on its topic alone.
      await sleep(QUIET_MS);
      for (const t of TOPICS) heard[t] = 0;
      await b.tokens.revoke((await b.tokens.create({ name: 'gone', scopes: ['licenses:read'] }, 'test')).id, 'test');
      await until(() => heard.tokens, (n) => n > 0);
      await sleep(QUIET_MS);
      expect(only({ tokens: true }, heard)).toEqual([]);
    });
  }
});
