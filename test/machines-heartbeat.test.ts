import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { HeartbeatSweep } from '../src/licensing/heartbeat-sweep.js';
import { ROOT } from './helpers/cli.js';
import { describeEachDialect, type TestDatabase } from './helpers/dialects.js';
import { checkStatus, clientCall, ensureProducts, eventsOf, issueFrom, machinesOf, makePolicy, subscribe } from './helpers/machines.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { until } from './helpers/wait.js';
import { startReceiver, type Receiver } from './helpers/webhook-receiver.js';

/**
 * Heartbeats (docs/machines.md): a machine of a policy with `heartbeatSeconds` that is not seen for
 * that long is dead; the sweep frees it (`machine.dead`, by `heartbeat`, with an audit entry) in
 * bounded batches, once even when instances sweep at once, and a check or heartbeat from a machine
 * dead but not yet swept sees it as such. Times are injected into the sweep; a machine "seen two
 * minutes ago" is activated through the domain at that time.
 */
const HEARTBEAT_S = 60;
const GRACE_MS = 2000;
/** Dead machines per license in the two-instance sweep: enough for the sweeps to overlap. */
const PER_LICENSE = 40;
// The servers' own sweep stays out of the way (an hour) except where a test starts its own.
const ENV = { WEBHOOK_POLL_MS: '50', WEBHOOK_RETRY_BASE_MS: '100', MACHINE_SWEEP_MS: '3600000' };

interface Sweeper {
  /** Runs `sweepDead(now, { limit, graceMs })` in the other process; resolves with how many it freed. */
  sweep(now: number, limit: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * Another instance's sweep: a separate process (the built services, as `keyward serve` runs them)
 * that sweeps when told, at the time it is told. A separate process, because two SQLite connections
 * in one thread cannot wait for each other's write lock.
 */
async function startSweeper(env: Record<string, string>): Promise<Sweeper> {
  const dist = (file: string) => pathToFileURL(path.join(ROOT, 'dist', file)).href;
  const script = `
    const { loadConfig } = await import(${JSON.stringify(dist('config.js'))});
    const { openServices } = await import(${JSON.stringify(dist('services.js'))});
    const { services } = await openServices(loadConfig(process.env, { dotenv: false }));
    process.stdout.write('ready\\n');
    let buffered = '';
    process.stdin.on('data', async (chunk) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\\n')) !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line === 'exit') { await services.close(); process.exit(0); }
        const { now, limit, graceMs } = JSON.parse(line);
        const freed = await services.machines.sweepDead(now, { limit, graceMs });
        process.stdout.write(freed + '\\n');
      }
    });`;
  const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    cwd: ROOT,
  });
  let out = '';
  let errors = '';
  const waiting: ((line: string) => void)[] = [];
  child.stderr!.on('data', (d) => (errors += d));
  child.stdout!.on('data', (d) => {
    out += d;
    let nl;
    while ((nl = out.indexOf('\n')) !== -1) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      waiting.shift()?.(line);
    }
  });
  const next = () =>
    new Promise<string>((resolve, reject) => {
      waiting.push(resolve);
      child.once('exit', () => reject(new Error(`the sweeper exited: ${errors}`)));
    });
  if ((await next()) !== 'ready') throw new Error(`the sweeper did not start: ${errors}`);
  return {
    async sweep(now, limit) {
      const line = next();
      child.stdin!.write(`${JSON.stringify({ now, limit, graceMs: GRACE_MS })}\n`);
      return Number(await line);
    },
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.stdin!.write('exit\n');
      await exited;
    },
  };
}

describeEachDialect('machine heartbeats ($name)', (create) => {
  let db: TestDatabase;
  let server: TestServer;
  /** A second instance's sweep, on the same database. */
  let twin: Sweeper;
  let receiver: Receiver;
  let webhookId: number;
  let policy: { id: number };

  beforeAll(async () => {
    db = await create();
    server = await startTestServer(db, ENV);
    twin = await startSweeper(db.env);
    receiver = await startReceiver();
    await ensureProducts(server, [8]);
    webhookId = await subscribe(server, receiver);
    policy = await makePolicy(server, [8], { maxMachines: 5, heartbeatSeconds: HEARTBEAT_S });
  });
  afterAll(async () => {
    await twin?.close();
    await server?.close();
    await receiver?.close();
    await db?.cleanup();
  });

  const sweep = (target: TestServer, now: number, limit = 500) => target.services.machines.sweepDead(now, { limit, graceMs: GRACE_MS });

  /** Machines written straight into the database, last seen `agoMs(license index)` before now (set-up only). */
  async function insertMachines(licenseIds: number[], perLicense: number, agoMs: (index: number) => number): Promise<void> {
    const now = Date.now();
    const rows = licenseIds.flatMap((licenseId, index) =>
      Array.from({ length: perLicense }, (_, i) => ({
        license_id: licenseId,
        fingerprint: `bulk-${i}`,
        name: null,
        platform: null,
        hostname: null,
        ip: '192.0.2.1',
        created_at: now - agoMs(index),
        last_seen_at: now - agoMs(index),
      })),
    );
    for (let i = 0; i < rows.length; i += 500) await server.internal.storage.db.insertInto('machines').values(rows.slice(i, i + 500)).execute();
  }

  const machineCount = async (licenseIds: number[]) => {
    let n = 0;
    for (const id of licenseIds) n += (await machinesOf(server, id)).length;
    return n;
  };

  it('a machine not seen for heartbeatSeconds is freed (machine.dead by heartbeat, audit entry); one seen recently is kept', async () => {
    const { id, key } = await issueFrom(server, policy.id);
    const t0 = Date.now();
    expect(await checkStatus(server.url, key, 'quiet')).toBe('AUTHORISED');
    expect(await checkStatus(server.url, key, 'chatty')).toBe('AUTHORISED');
    await server.flush();
    // 'chatty' is seen again 30 s later (through the domain, at that time); 'quiet' never is.
    expect((await server.services.machines.activate(id, 'chatty', { ip: '127.0.0.1' }, 'confirm', t0 + 30_000))?.status).toBe('ALREADY ACTIVATED');

    expect(await sweep(server, t0 + (HEARTBEAT_S + 1) * 1000 + GRACE_MS)).toBe(1);
    expect((await machinesOf(server, id)).map((m) => m.fingerprint)).toEqual(['chatty']);
    const [dead] = await receiver.waitFor(() => eventsOf(receiver, 'machine.dead', id).length === 1).then(() => eventsOf(receiver, 'machine.dead', id));
    expect(dead!.json.data).toMatchObject({ license: { id }, machine: { licenseId: id, fingerprint: 'quiet', alive: false }, by: 'heartbeat' });
    const audit = await server.services.logs.audit({ action: 'machine.dead', targetId: String(id) });
    expect(audit).toMatchObject([{ actor: 'system', targetType: 'license', before: { fingerprint: 'quiet' }, after: { by: 'heartbeat' } }]);
    // Nothing more is dead yet.
    expect(await sweep(server, t0 + (HEARTBEAT_S + 1) * 1000 + GRACE_MS)).toBe(0);
  });

  it('bounded work: 1,200 dead machines across licenses, one sweep with limit 500 frees the 500 seen longest ago', async () => {
    // No deliveries for this bulk: the endpoint is off meanwhile.
    await server.services.webhooks.update(webhookId, { active: false }, 'test');
    const ids: number[] = [];
    try {
      const bulk = await makePolicy(server, [8], { maxMachines: 100, heartbeatSeconds: HEARTBEAT_S });
      for (let i = 0; i < 12; i++) ids.push((await issueFrom(server, bulk.id)).id);
      // The first licenses' machines were seen longest ago.
      await insertMachines(ids, 100, (index) => 10 * 60_000 + (12 - index) * 1000);
      expect(await machineCount(ids)).toBe(1200);
      expect(await sweep(server, Date.now(), 500)).toBe(500);
      const left = [];
      for (const id of ids) left.push((await machinesOf(server, id)).length);
      expect(left).toEqual([0, 0, 0, 0, 0, 100, 100, 100, 100, 100, 100, 100]);
    } finally {
      // The rest are not this test's business (nor the later sweeps').
      if (ids.length) await server.internal.storage.db.deleteFrom('machines').where('license_id', 'in', ids).execute();
      await server.services.webhooks.update(webhookId, { active: true }, 'test');
    }
  });

  it('two instances sweeping at once free each machine exactly once (one machine.dead each)', async () => {
    const ids = [(await issueFrom(server, policy.id)).id, (await issueFrom(server, policy.id)).id];
    const N = 2 * PER_LICENSE;
    await insertMachines(ids, PER_LICENSE, () => 10 * 60_000);
    const now = Date.now();
    // Both go through the same dead machines in the same order, at the same time (this process a
    // moment later: on SQLite its sweep does not yield to I/O, so it would finish before the other starts).
    const freed = await Promise.all([twin.sweep(now, 500), new Promise((r) => setTimeout(r, 30)).then(() => sweep(server, now))]);
    expect(freed[0] + freed[1]).toBe(N);
    expect(await machineCount(ids)).toBe(0);
    const deaths = () => ids.flatMap((id) => eventsOf(receiver, 'machine.dead', id));
    await receiver.waitFor(() => deaths().length >= N);
    await new Promise((r) => setTimeout(r, 500));
    expect(deaths()).toHaveLength(N);
    expect(new Set(deaths().map((d) => d.json.data.machine.id)).size).toBe(N);
    let audits = 0;
    for (const id of ids) audits += (await server.services.logs.audit({ action: 'machine.dead', targetId: String(id), limit: 1000 })).length;
    expect(audits).toBe(N);
  });

  it('a check from a machine dead but not yet swept re-activates it when a slot is free (machine.dead, then machine.activated)', async () => {
    const single = await makePolicy(server, [8], { maxMachines: 1, heartbeatSeconds: HEARTBEAT_S });
    const { id, key } = await issueFrom(server, single.id);
    await server.services.machines.activate(id, 'zombie', { ip: '127.0.0.1' }, 'explicit', Date.now() - 2 * HEARTBEAT_S * 1000);
    const [before] = await machinesOf(server, id);
    expect(before).toMatchObject({ fingerprint: 'zombie', alive: false });

    expect(await checkStatus(server.url, key, 'zombie')).toBe('AUTHORISED');
    const [after] = await machinesOf(server, id);
    expect(after).toMatchObject({ fingerprint: 'zombie', alive: true });
    expect(after!.id).not.toBe(before!.id);
    await receiver.waitFor(() => eventsOf(receiver, 'machine.dead', id).length === 1 && eventsOf(receiver, 'machine.activated', id).length === 2);
    expect(eventsOf(receiver, 'machine.dead', id)[0]!.json.data).toMatchObject({ machine: { id: before!.id }, by: 'heartbeat' });
    const audit = (await server.services.logs.audit({ targetType: 'license', targetId: String(id) })).filter((a) => a.action.startsWith('machine.'));
    expect(audit.map((a) => a.action).reverse()).toEqual(['machine.activated', 'machine.dead', 'machine.activated']);
  });

  it('a dead machine with no free slot: TOO MANY MACHINES, and the dead one is freed', async () => {
    const single = await makePolicy(server, [8], { maxMachines: 1, heartbeatSeconds: HEARTBEAT_S });
    const { id, key } = await issueFrom(server, single.id);
    await server.services.machines.activate(id, 'zombie', { ip: '127.0.0.1' }, 'explicit', Date.now() - 2 * HEARTBEAT_S * 1000);
    // A dead machine holds no slot: another one takes it.
    expect(await checkStatus(server.url, key, 'living')).toBe('AUTHORISED');
    expect(await checkStatus(server.url, key, 'zombie')).toBe('TOO MANY MACHINES');
    expect((await machinesOf(server, id)).map((m) => m.fingerprint)).toEqual(['living']);
    await receiver.waitFor(() => eventsOf(receiver, 'machine.dead', id).length === 1);
  });

  it('a heartbeat from a machine dead but not yet swept answers NOT ACTIVATED and frees it', async () => {
    const { id, key } = await issueFrom(server, policy.id);
    await server.services.machines.activate(id, 'zombie', { ip: '127.0.0.1' }, 'explicit', Date.now() - 2 * HEARTBEAT_S * 1000);
    const res = await clientCall(server.url, 'heartbeat', key, { productId: 8, fingerprint: 'zombie' });
    expect(res.json).toMatchObject({ status: 'NOT ACTIVATED', pass: false, machine: null, nextHeartbeatBy: null });
    expect(await machinesOf(server, id)).toEqual([]);
    await receiver.waitFor(() => eventsOf(receiver, 'machine.dead', id).length === 1);
    expect(eventsOf(receiver, 'machine.activated', id)).toHaveLength(1);
  });

  it('the sweep job, on its own clock, frees a dead machine within a second', async () => {
    const { id, key } = await issueFrom(server, policy.id);
    expect(await checkStatus(server.url, key, 'job-1')).toBe('AUTHORISED');
    let fake = Date.now();
    const job = new HeartbeatSweep(server.services.machines, { now: () => fake, intervalMs: 100, graceMs: GRACE_MS, flushSightings: () => server.flush() });
    job.start();
    try {
      await new Promise((r) => setTimeout(r, 300));
      expect(await machinesOf(server, id)).toHaveLength(1);
      const started = Date.now();
      fake = started + (HEARTBEAT_S + 1) * 1000 + GRACE_MS;
      await until(() => machinesOf(server, id), (m) => m.length === 0, 1000);
      expect(await machinesOf(server, id)).toEqual([]);
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      await job.stop();
    }
    await receiver.waitFor(() => eventsOf(receiver, 'machine.dead', id).length === 1);
  });

  it('a server started with MACHINE_SWEEP_MS=200 frees a machine whose heartbeat passed by itself', async () => {
    const { id } = await issueFrom(server, policy.id);
    const sweeping = await startTestServer(db, { ...ENV, MACHINE_SWEEP_MS: '200' });
    try {
      await sweeping.services.machines.activate(id, 'gone-quiet', { ip: '127.0.0.1' }, 'explicit', Date.now() - 2 * HEARTBEAT_S * 1000);
      expect(await machinesOf(server, id)).toHaveLength(1);
      const started = Date.now();
      await until(() => machinesOf(server, id), (m) => m.length === 0, 2000);
      expect(await machinesOf(server, id)).toEqual([]);
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      await sweeping.close();
    }
    await receiver.waitFor(() => eventsOf(receiver, 'machine.dead', id).length === 1);
  });
});
