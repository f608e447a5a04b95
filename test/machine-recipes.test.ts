import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activate, deactivate, heartbeat, validate, type LicenseCallOptions } from '../src/client/index.js';
import type { PolicyCreate } from '../src/licensing/schemas/policy.js';
import { cli, ROOT, runCli } from './helpers/cli.js';
import { createSqlite, type TestDatabase } from './helpers/dialects.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * The recipes of docs/machines.md do what the page says: each recipe's policy, with the settings
 * of its `keyward policy create` line as written there, behaves as its text and code promise,
 * through keyward/client (or the FiveM script's plain check) against the real server. When the
 * CLI has the policy and machine commands, the recipes' commands also run as written.
 */

const DOC = readFileSync(path.join(ROOT, 'docs', 'machines.md'), 'utf8');

/** The `keyward …` commands of the ```sh blocks under a recipe's heading, as argument lists. */
function recipeCommands(heading: string): string[][] {
  const start = DOC.indexOf(`### ${heading}`);
  if (start === -1) throw new Error(`docs/machines.md has no recipe "${heading}"`);
  const end = DOC.indexOf('\n### ', start + 4);
  const section = DOC.slice(start, end === -1 ? undefined : end);
  const commands: string[][] = [];
  for (const block of section.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const lines = block[1]!.replace(/\\\n\s*/g, ' ').split('\n');
    for (const line of lines) {
      const m = /^npx keyward (.*)$/.exec(line.trim());
      if (m) commands.push([...m[1]!.matchAll(/"([^"]*)"|(\S+)/g)].map((t) => t[1] ?? t[2]!));
    }
  }
  return commands;
}

/** The recipe's `policy create` line, in the service's terms. */
function recipePolicy(heading: string): PolicyCreate {
  const args = recipeCommands(heading).find((c) => c[0] === 'policy' && c[1] === 'create');
  if (!args) throw new Error(`recipe "${heading}" creates no policy`);
  const out: Partial<PolicyCreate> & { productIds: number[] } = { productIds: [] };
  for (let i = 2; i < args.length; i++) {
    const value = args[i + 1]!;
    switch (args[i]) {
      case '--json':
        continue;
      case '--name':
        out.name = value;
        break;
      case '--product':
        out.productIds.push(Number(value));
        break;
      case '--max-machines':
        out.maxMachines = Number(value);
        break;
      case '--auto-activate':
        out.autoActivate = value === 'true';
        break;
      case '--machine-identity':
        out.machineIdentity = value as PolicyCreate['machineIdentity'];
        break;
      case '--heartbeat-seconds':
        out.heartbeatSeconds = Number(value);
        break;
      case '--deactivations-per-day':
        out.deactivationsPerDay = Number(value);
        break;
      default:
        throw new Error(`recipe "${heading}": ${args[i]} is not mapped in this test`);
    }
    i++;
  }
  return out as PolicyCreate;
}

const NODE_LOCKED = 'A node-locked desktop app';
const FIVEM = 'A FiveM script for 3 servers, by IP';
const FLOATING = 'Floating seats with heartbeats';

describe('docs/machines.md recipes, against the real server', () => {
  let server: TestServer;
  let pem: string;
  /** A license issued from the recipe's policy; `call` builds keyward/client options for one machine. */
  const licenseOf = async (heading: string) => {
    const policy = await server.services.policies.create(recipePolicy(heading), 'test');
    const license = (await server.services.licenses.create({ policyId: policy.id }, 'test')) as { id: number; key: string };
    const call = (fingerprint: string): LicenseCallOptions => ({ url: server.url, productId: 8, key: license.key, publicKey: pem, fingerprint, name: fingerprint });
    return { policy, license, call };
  };

  beforeAll(async () => {
    // The FiveM servers' IPs come from X-Real-IP, as from nginx on this machine.
    server = await startTestServer(await createSqlite(), { TRUST_PROXY: 'loopback' });
    await server.issue([8]);
    ({ pem } = await (await fetch(`${server.url}/api/public-key`)).json());
  });
  afterAll(async () => {
    await server?.close();
    await server?.db.cleanup();
  });

  it(`${NODE_LOCKED}: a start does not take the slot, the button does; moving is possible twice a day`, async () => {
    const { policy, call } = await licenseOf(NODE_LOCKED);
    expect(policy).toMatchObject({ maxMachines: 1, autoActivate: false, deactivationsPerDay: 2 });
    expect((await validate(call('old-pc'))).status).toBe('NOT ACTIVATED');
    expect((await activate(call('old-pc'))).status).toBe('ACTIVATED');
    expect((await validate(call('old-pc'))).status).toBe('AUTHORISED');
    expect((await activate(call('new-pc'))).status).toBe('TOO MANY MACHINES');
    expect((await deactivate(call('old-pc'))).status).toBe('DEACTIVATED');
    expect((await activate(call('new-pc'))).status).toBe('ACTIVATED');
    expect((await deactivate(call('new-pc'))).status).toBe('DEACTIVATED');
    expect((await activate(call('old-pc'))).status).toBe('ACTIVATED');
    expect(await deactivate(call('old-pc'))).toMatchObject({ status: 'DEACTIVATION LIMIT', pass: false });
  });

  it(`${FIVEM}: the plain check from three server IPs passes, a fourth IP gets TOO MANY MACHINES`, async () => {
    const { policy, license } = await licenseOf(FIVEM);
    expect(policy).toMatchObject({ maxMachines: 3, machineIdentity: 'ip' });
    // What PerformHttpRequest sends: POST, body "", no Content-Type.
    const fivem = async (ip: string) =>
      (await (await fetch(`${server.url}/api/check/8`, { method: 'POST', headers: { Authorization: license.key, 'X-Real-IP': ip }, body: '' })).json()) as { status: string };
    for (const ip of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) expect((await fivem(ip)).status).toBe('AUTHORISED');
    expect((await fivem('203.0.113.4')).status).toBe('TOO MANY MACHINES');
    expect((await fivem('203.0.113.1')).status).toBe('AUTHORISED');
    const { machines } = await server.services.machines.list(license.id);
    expect(machines.map((m) => m.fingerprint)).toEqual(['203.0.113.1', '203.0.113.2', '203.0.113.3']);
  });

  it(`${FLOATING}: five seats; the sixth waits; a seat whose heartbeats stopped frees itself and the loop takes one again`, async () => {
    const { policy, call } = await licenseOf(FLOATING);
    expect(policy).toMatchObject({ maxMachines: 5, heartbeatSeconds: 300, autoActivate: true });
    for (const n of [1, 2, 3, 4, 5]) expect((await validate(call(`pc-${n}`))).status).toBe('AUTHORISED');
    expect((await validate(call('pc-6'))).status).toBe('TOO MANY MACHINES');
    expect((await heartbeat(call('pc-1'))).status).toBe('ALIVE');
    // 300 s (and the sweep's grace) later, with no heartbeat from anyone: every seat is free again.
    expect(await server.services.machines.sweepDead(Date.now() + 303_000, { limit: 500, graceMs: 2000 })).toBe(5);
    expect((await validate(call('pc-6'))).status).toBe('AUTHORISED');
    // pc-1's next heartbeat finds its seat gone; the recipe's loop then validates and gets one back.
    expect((await heartbeat(call('pc-1'))).status).toBe('NOT ACTIVATED');
    expect((await validate(call('pc-1'))).status).toBe('AUTHORISED');
  });
});

describe('docs/machines.md recipes: the CLI commands as written', () => {
  let db: TestDatabase;
  let hasCommands = false;
  beforeAll(async () => {
    db = await createSqlite();
    const help = await runCli(db.env, ['--help']);
    hasCommands = help.code === 0 && /\bpolicy\b/.test(help.stdout) && /\bmachine\b/.test(help.stdout);
  });
  afterAll(async () => db?.cleanup());

  it('run in order on a fresh database: each policy gets the id the next command names, and shows the recipe settings', async () => {
    expect(hasCommands, 'the CLI has the policy and machine commands').toBe(true);
    const ok = (args: string[]) => cli(db.env, args.filter((a) => a !== '--json'));
    await ok(['product', 'create', '--name', 'App', '--id', '8']);
    for (const owner of ['alice', 'bob', 'acme']) await ok(['user', 'create', '--username', owner]);
    const licenses: { id: number; policyId: number }[] = [];
    let policyId = 0;
    for (const heading of [NODE_LOCKED, FIVEM, FLOATING]) {
      for (const args of recipeCommands(heading)) {
        // `machine deactivate ID` needs a machine; `machine list` is run below with the real license id.
        if (args[0] === 'machine') continue;
        const out = await ok(args);
        if (args[0] === 'policy' && args[1] === 'create') {
          expect(out).toMatchObject(recipePolicy(heading));
          policyId = out.id;
        }
        if (args[0] === 'license' && args[1] === 'create') {
          expect(out.policyId).toBe(policyId);
          licenses.push(out);
        }
      }
    }
    expect(licenses).toHaveLength(3);
    const list = recipeCommands(NODE_LOCKED).find((c) => c[0] === 'machine' && c[1] === 'list')!;
    expect(await ok([...list.slice(0, 2), '--license', String(licenses[0]!.id)])).toEqual([]);
  });
});
