import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { openServices, type Internals, type Services } from '../src/services.js';
import { describeEachDialect, type TestDatabase } from './helpers/dialects.js';

/**
 * The heartbeat sweep's query (storage/machine-repository.ts `dead`): the machines of licenses
 * whose policy has a heartbeat, unseen for longer than it plus the grace, oldest first across
 * policies, at most `limit`. It reads policy by policy with a constant cutoff, so a database of
 * machines without heartbeats is not read at every sweep (docs/benchmarks.md, "Policies and machines").
 */
const NOW = Date.UTC(2026, 5, 15, 12);
const GRACE_MS = 2000;
const MINUTE = 60_000;

describeEachDialect('the heartbeat sweep query', (create) => {
  let db: TestDatabase;
  let services: Services;
  let internal: Internals;
  const ids: Record<string, number> = {};

  /** A machine of `licenseId` last seen at `seenAt`; its id, under `name`. */
  async function machine(name: string, licenseId: number, seenAt: number) {
    const row = await internal.checkPath.machines.insert({
      license_id: licenseId,
      fingerprint: name,
      name: null,
      platform: null,
      hostname: null,
      ip: null,
      created_at: seenAt,
      last_seen_at: seenAt,
    });
    ids[name] = row.id;
  }
  const dead = (limit = 100) => internal.checkPath.machines.dead(NOW, GRACE_MS, limit);
  const names = (rows: { id: number }[]) => rows.map((r) => Object.keys(ids).find((k) => ids[k] === r.id));

  beforeAll(async () => {
    db = await create();
    ({ services, internal } = await openServices(loadConfig(db.env, { dotenv: false })));
    await services.products.create({ name: 'Sweep product', id: 1 }, 'test');
    const policy = async (name: string, heartbeatSeconds: number | null) =>
      (await services.policies.create({ name, productIds: [1], maxMachines: 100, heartbeatSeconds }, 'test')).id;
    const license = async (policyId: number | null) =>
      (await services.licenses.create(policyId === null ? { productIds: [1], maxMachines: 10 } : { policyId }, 'test')).id;
    const none = await license(await policy('no heartbeat', null));
    const own = await license(null);
    const minute = await license(await policy('one minute', 60));
    const hour = await license(await policy('one hour', 3600));
    // Unseen for a year, but nothing dies without a heartbeat.
    await machine('none-old', none, NOW - 365 * 24 * 60 * MINUTE);
    await machine('own-old', own, NOW - 365 * 24 * 60 * MINUTE);
    // One minute's heartbeat: the cutoff is NOW - 2 s - 60 s, strictly before it is dead.
    await machine('minute-edge', minute, NOW - GRACE_MS - MINUTE);
    await machine('minute-just-dead', minute, NOW - GRACE_MS - MINUTE - 1);
    await machine('minute-dead-10m', minute, NOW - 10 * MINUTE);
    await machine('minute-alive', minute, NOW - 30_000);
    // One hour's heartbeat: 10 minutes unseen is alive, 2 hours dead.
    await machine('hour-alive-10m', hour, NOW - 10 * MINUTE);
    await machine('hour-dead-2h', hour, NOW - 120 * MINUTE);
    await machine('hour-dead-61m', hour, NOW - 61 * MINUTE - GRACE_MS);
  });
  afterAll(async () => {
    await services?.close();
    await db?.cleanup();
  });

  it('finds exactly the machines past their own policy heartbeat plus the grace, oldest first across policies', async () => {
    const rows = await dead();
    expect(names(rows)).toEqual(['hour-dead-2h', 'hour-dead-61m', 'minute-dead-10m', 'minute-just-dead']);
    expect(rows.map((r) => r.heartbeatSeconds)).toEqual([3600, 3600, 60, 60]);
    expect(rows.map((r) => r.last_seen_at)).toEqual([NOW - 120 * MINUTE, NOW - 61 * MINUTE - GRACE_MS, NOW - 10 * MINUTE, NOW - GRACE_MS - MINUTE - 1]);
  });

  it('keeps the limit over all policies together, taking the oldest', async () => {
    expect(names(await dead(3))).toEqual(['hour-dead-2h', 'hour-dead-61m', 'minute-dead-10m']);
    expect(names(await dead(1))).toEqual(['hour-dead-2h']);
  });

  it('finds nothing when no policy has a heartbeat, however long machines went unseen', async () => {
    await services.policies.update((await services.policies.list()).find((p) => p.name === 'one minute')!.id, { heartbeatSeconds: null }, 'test');
    await services.policies.update((await services.policies.list()).find((p) => p.name === 'one hour')!.id, { heartbeatSeconds: null }, 'test');
    expect(await dead()).toEqual([]);
    expect(await services.machines.sweepDead(NOW, { limit: 100, graceMs: GRACE_MS })).toBe(0);
  });
});
