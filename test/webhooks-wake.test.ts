import { afterAll, expect, it } from 'vitest';
import { freePort, runCli, startServerProcess, type ServerProcess } from './helpers/cli.js';
import type { TestDatabase } from './helpers/dialects.js';
import { describeEachIsolatedDialect } from './helpers/isolated-dialects.js';
import { startReceiver, type Receiver } from './helpers/webhook-receiver.js';

async function cli(env: Record<string, string>, args: string[]) {
  const res = await runCli(env, [...args, '--json']);
  if (res.code !== 0) throw new Error(`keyward ${args.join(' ')} failed: ${res.stderr}`);
  return res.json;
}

/**
 * A delivery queued by another process (the CLI) wakes the running server's delivery worker
 * through the change feed, not its next poll: the poll here is a minute apart.
 */
describeEachIsolatedDialect('a webhook queued by the CLI while the server runs ($name)', (create) => {
  let db: TestDatabase | undefined;
  let server: ServerProcess | undefined;
  let receiver: Receiver | undefined;
  afterAll(async () => {
    await server?.stop('SIGKILL');
    await receiver?.close();
    await db?.cleanup();
  });

  it('is sent within a couple of seconds, long before the worker would poll', async () => {
    db = await create();
    receiver = await startReceiver();
    const env = { ...db.env, WEBHOOK_POLL_MS: '60000' };
    await cli(env, ['product', 'create', '--name', 'Script', '--id', '8']);
    await cli(env, ['webhook', 'create', '--url', receiver.url, '--events', 'license.created']);
    server = await startServerProcess(env, await freePort());
    // Let the worker's first look at the queue (at start) pass: from here only a wake-up sends.
    await new Promise((r) => setTimeout(r, 1000));

    const license = await cli(env, ['license', 'create', '--product', '8']);
    const queued = Date.now();
    const [delivery] = await receiver.waitFor((r) => r.length >= 1, 20_000);
    expect(delivery!.json.type).toBe('license.created');
    expect(delivery!.json.data.license.id).toBe(license.id);
    expect(Date.now() - queued).toBeLessThan(3000);
  });
});
