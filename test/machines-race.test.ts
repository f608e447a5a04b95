import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort, startServerProcess, type ServerProcess } from './helpers/cli.js';
import { describeEachDialect, type TestDatabase } from './helpers/dialects.js';
import { checkCall, clientCall, ensureProducts, issueFrom, machinesOf, makePolicy, tally } from './helpers/machines.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * The machine limit and the daily deactivation allowance hold under races (docs/machines.md):
 * many requests at once for the last free slots, or for the last deactivations of the day, on one
 * instance and on two instances (this process and a `keyward serve` process) sharing one database.
 * Each activation and deactivation locks its license first, so exactly the allowed number win.
 */
const REQUESTS = 50;
const LIMIT = 3;

describeEachDialect('the machine limit under races ($name)', (create) => {
  let db: TestDatabase;
  let server: TestServer;
  let other: ServerProcess;
  let policy: { id: number };
  let allowance: { id: number };

  beforeAll(async () => {
    db = await create();
    server = await startTestServer(db);
    await ensureProducts(server, [8]);
    policy = await makePolicy(server, [8], { maxMachines: LIMIT });
    allowance = await makePolicy(server, [8], { maxMachines: 20, deactivationsPerDay: 3 });
    other = await startServerProcess(db.env, await freePort(), 'silent');
  });
  afterAll(async () => {
    await other?.stop('SIGKILL');
    await server?.close();
    await db?.cleanup();
  });

  /** Where request `i` goes: this process only, or every other one to the second instance. */
  const target = (i: number, split: boolean) => (split && i % 2 === 1 ? other.url : server.url);

  /** The limit, the database and the audit log agree: exactly LIMIT machines, each activated once. */
  async function expectExactlyLimit(id: number, statuses: string[], won: string): Promise<void> {
    expect(tally(statuses)).toEqual({ [won]: LIMIT, 'TOO MANY MACHINES': REQUESTS - LIMIT });
    expect(await machinesOf(server, id)).toHaveLength(LIMIT);
    expect(await server.services.logs.audit({ action: 'machine.activated', targetId: String(id) })).toHaveLength(LIMIT);
  }

  it.each([
    ['one instance', false],
    ['two instances', true],
  ])(`%s: ${REQUESTS} checks from distinct machines at a maxMachines ${LIMIT} license: exactly ${LIMIT} pass`, async (_, split) => {
    const { id, key } = await issueFrom(server, policy.id);
    const answers = await Promise.all(
      Array.from({ length: REQUESTS }, (_, i) => checkCall(target(i, split), `/api/check/8?fingerprint=fp-${i}`, key)),
    );
    await expectExactlyLimit(id, answers.map((a) => a.json.status), 'AUTHORISED');
    // The winners are the machines the database holds, and both instances now agree on them.
    const winners = answers.flatMap((a, i) => (a.json.status === 'AUTHORISED' ? [`fp-${i}`] : []));
    expect((await machinesOf(server, id)).map((m) => m.fingerprint).sort()).toEqual(winners.sort());
    for (const url of [server.url, other.url]) {
      expect((await checkCall(url, `/api/check/8?fingerprint=${winners[0]}`, key)).json.status).toBe('AUTHORISED');
      expect((await checkCall(url, '/api/check/8?fingerprint=late-comer', key)).json.status).toBe('TOO MANY MACHINES');
    }
  });

  it.each([
    ['one instance', false],
    ['two instances', true],
  ])(`%s: ${REQUESTS} activations of distinct machines at a maxMachines ${LIMIT} license: exactly ${LIMIT} ACTIVATED`, async (_, split) => {
    const { id, key } = await issueFrom(server, policy.id);
    const answers = await Promise.all(
      Array.from({ length: REQUESTS }, (_, i) => clientCall(target(i, split), 'activate', key, { productId: 8, fingerprint: `act-${i}` })),
    );
    await expectExactlyLimit(id, answers.map((a) => a.json.status), 'ACTIVATED');
  });

  it.each([
    ['one instance', false],
    ['two instances', true],
  ])('%s: 20 deactivations at once by the key holder, 3 allowed a day: exactly 3 DEACTIVATED', async (_, split) => {
    const { id, key } = await issueFrom(server, allowance.id);
    for (let i = 0; i < 10; i++) expect((await clientCall(server.url, 'activate', key, { productId: 8, fingerprint: `m-${i}` })).json.status).toBe('ACTIVATED');
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => clientCall(target(i, split), 'deactivate', key, { productId: 8, fingerprint: `m-${i % 10}` })),
    );
    const statuses = tally(answers.map((a) => a.json.status));
    expect(statuses.DEACTIVATED).toBe(3);
    // The others: over the allowance, or their machine was just freed by the twin request.
    expect(Object.keys(statuses).filter((s) => s !== 'DEACTIVATED' && s !== 'DEACTIVATION LIMIT' && s !== 'NOT ACTIVATED')).toEqual([]);
    expect(await machinesOf(server, id)).toHaveLength(7);
    expect(await server.services.machines.deactivationsLeft(id, 'key')).toBe(0);
    expect(await server.services.logs.audit({ action: 'machine.deactivated', targetId: String(id) })).toHaveLength(3);
  });
});
