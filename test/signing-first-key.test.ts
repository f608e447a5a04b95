import { afterAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { openServices, type Internals, type Services } from '../src/services.js';
import { describeEachDialect, type TestDatabase } from './helpers/dialects.js';
import { until } from './helpers/wait.js';

/**
 * Two instances that start together on an empty database may each create a first signing key.
 * Creating one is announced, so the other re-reads and both sign with the newest key.
 */
describeEachDialect('the first signing key reaches every instance ($name)', (create) => {
  let db: TestDatabase | undefined;
  const opened: { services: Services; internal: Internals }[] = [];
  afterAll(async () => {
    for (const s of opened) await s.services.close();
    await db?.cleanup();
  });

  it('announces the key it creates, and both instances then agree on the current key', async () => {
    db = await create();
    const open = async () => {
      const s = await openServices(loadConfig(db!.env, { dotenv: false }));
      opened.push(s);
      return s;
    };
    const first = await open();
    const second = await open();
    await first.internal.storage.changes.watch();
    await second.internal.storage.changes.watch();
    let told = 0;
    first.internal.storage.changes.onChange('signing-keys', () => told++);

    // Both start on the empty table at once; either may create a key, or both may.
    await Promise.all([first.services.signingKeys.current(), second.services.signingKeys.current()]);
    expect((await first.internal.storage.db.selectFrom('signing_keys').select('id').execute()).length).toBeGreaterThanOrEqual(1);

    await until(() => told, (n) => n > 0, 2000);
    expect(told).toBeGreaterThan(0);
    // What a server does on a change: re-read. Both now sign with the same key.
    const [a2, b2] = [await first.services.signingKeys.current(), await second.services.signingKeys.current()];
    expect(a2.id).toBe(b2.id);
  });
});
