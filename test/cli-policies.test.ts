import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliChecks } from './helpers/cli.js';
import { describeEachDialect } from './helpers/dialects.js';
import { ISO_TIME } from './helpers/patterns.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const DAY_MS = 86_400_000;

/**
 * `keyward policy …`, `keyward machine …` and the policy options of `keyward license …`, through
 * the built CLI (bin/keyward.js → dist/), against a running server's database. The tests of one
 * dialect run in order: later ones use the policies and licenses earlier ones made.
 */
describeEachDialect('keyward policy / machine CLI ($name)', (create) => {
  let server: TestServer;
  const { keys, cli, ok, human, expectFailure, allFail } = cliChecks(() => server.db.env);

  beforeAll(async () => {
    server = await startTestServer(await create());
    await server.services.products.create({ id: 8, name: 'Script' }, 'test');
    await server.services.products.create({ id: 16, name: 'Addon' }, 'test');
  });
  afterAll(async () => {
    await server?.close();
    await server?.db.cleanup();
  });

  let pro: any;
  let trial: any;

  describe('policy', () => {
    it('create --json with every option prints the policy', async () => {
      pro = await ok([
        'policy', 'create', '--name', 'Pro', '--product', '8', '--product', '16',
        '--duration-days', '365', '--expiry-basis', 'issued', '--max-machines', '3', '--machine-identity', 'fingerprint',
        '--auto-activate', 'false', '--heartbeat-seconds', '600', '--deactivations-per-day', '0',
        '--entitlements', 'pro,export', '--max-uses', '1000',
      ]);
      expect(pro).toMatchObject({
        name: 'Pro',
        productIds: [8, 16],
        durationDays: 365,
        expiryBasis: 'issued',
        maxMachines: 3,
        machineIdentity: 'fingerprint',
        autoActivate: false,
        heartbeatSeconds: 600,
        deactivationsPerDay: 0,
        entitlements: ['pro', 'export'],
        maxUses: 1000,
      });
      expect(pro.createdAt).toMatch(ISO_TIME);
    });

    it('create with only a name and products takes the defaults; "never" and "none" are null', async () => {
      trial = await ok(['policy', 'create', '--name', 'Trial', '--product', '8', '--duration-days', '7', '--expiry-basis', 'first-use']);
      expect(trial).toMatchObject({ durationDays: 7, expiryBasis: 'first-use', maxMachines: null, machineIdentity: 'fingerprint', autoActivate: true, heartbeatSeconds: null, deactivationsPerDay: 3, entitlements: [], maxUses: null });
      const open = await ok(['policy', 'create', '--name', 'Open', '--product', '16', '--duration-days', 'never', '--max-machines', 'none', '--heartbeat-seconds', 'none', '--max-uses', 'none', '--machine-identity', 'ip']);
      expect(open).toMatchObject({ durationDays: null, maxMachines: null, heartbeatSeconds: null, maxUses: null, machineIdentity: 'ip' });
      const text = await human(['policy', 'create', '--name', 'Said in words', '--product', '8', '--max-machines', '2']);
      expect(text).toMatch(/^Created policy \d+\./);
      expect(text).toMatch(/machines: +at most 2/);
    });

    it('list and show', async () => {
      const list = await ok(['policy', 'list']);
      expect(list.map((p: any) => p.name)).toEqual(['Pro', 'Trial', 'Open', 'Said in words']);
      expect(await ok(['policy', 'show', String(pro.id)])).toEqual(pro);
      const text = await human(['policy', 'show', String(pro.id)]);
      expect(text).toMatch(/^id: +\d+$/m);
      expect(text).toMatch(/duration: +365 days from issue/);
      expect(await human(['policy', 'list'])).toContain('Said in words');
    });

    it('update changes only the options given; words clear; nothing to change is an error', async () => {
      const changed = await ok(['policy', 'update', String(pro.id), '--name', 'Pro+', '--max-machines', '5', '--heartbeat-seconds', 'none', '--entitlements', '']);
      expect(changed).toEqual({ ...pro, name: 'Pro+', maxMachines: 5, heartbeatSeconds: null, entitlements: [], updatedAt: expect.stringMatching(ISO_TIME) });
      const again = await ok(['policy', 'update', String(pro.id), '--product', '16', '--auto-activate', 'true', '--max-uses', 'none']);
      expect(again).toMatchObject({ productIds: [16], autoActivate: true, maxUses: null, name: 'Pro+' });
      pro = again;
      const nothing = await cli(['policy', 'update', String(pro.id), '--json']);
      expectFailure(nothing, ['policy', 'update'], /nothing to change/);
    });
  });

  describe('license from a policy', () => {
    let licenseId: number;

    it('license create --policy: its products and expiry, no --product needed', async () => {
      const before = Date.now();
      const license = await ok(['license', 'create', '--policy', String(pro.id)]);
      expect(license).toMatchObject({ productIds: [16], policyId: pro.id, maxMachines: null, firstUseDays: null });
      expect(Date.parse(license.expiresAt)).toBeGreaterThanOrEqual(before + 365 * DAY_MS);
      expect(Date.parse(license.expiresAt)).toBeLessThanOrEqual(Date.now() + 365 * DAY_MS);
      licenseId = license.id;

      const firstUse = await ok(['license', 'create', '--policy', String(trial.id), '--max-machines', '2']);
      expect(firstUse).toMatchObject({ productIds: [8], policyId: trial.id, expiresAt: null, firstUseDays: 7, maxMachines: 2 });
      const text = await human(['license', 'show', String(firstUse.id)]);
      expect(text).toMatch(/expires: +7 days after its first use/);
      expect(text).toMatch(new RegExp(`policy: +${trial.id}$`, 'm'));
      expect(text).toMatch(/max machines: +2$/m);
    });

    it('license update --policy none / ID and --max-machines N / inherit', async () => {
      expect(await ok(['license', 'update', String(licenseId), '--max-machines', '4'])).toMatchObject({ policyId: pro.id, maxMachines: 4 });
      expect(await ok(['license', 'update', String(licenseId), '--policy', 'none', '--max-machines', 'inherit'])).toMatchObject({ policyId: null, maxMachines: null, productIds: [16] });
      const back = await ok(['license', 'update', String(licenseId), '--policy', String(pro.id)]);
      expect(back).toMatchObject({ policyId: pro.id, maxMachines: null, productIds: [16] });
      expect(await human(['license', 'show', String(licenseId)])).toMatch(/max machines: +the policy's/);
    });

    it('policy delete is refused while a license follows the policy, and works once none does', async () => {
      const inUse = await cli(['policy', 'delete', String(pro.id), '--json']);
      expectFailure(inUse, ['policy', 'delete'], new RegExp(`policy ${pro.id} is used by 1 license\\(s\\)`));
      expect(await ok(['policy', 'show', String(pro.id)])).toMatchObject({ id: pro.id });
      const spare = await ok(['policy', 'create', '--name', 'Spare', '--product', '8']);
      expect(await ok(['policy', 'delete', String(spare.id)])).toEqual({ ok: true });
      expect(await human(['policy', 'delete', String((await ok(['policy', 'create', '--name', 'Spare 2', '--product', '8'])).id)])).toMatch(/^Deleted policy \d+\./);
      expectFailure(await cli(['policy', 'show', String(spare.id), '--json']), ['policy', 'show'], new RegExp(`policy ${spare.id} does not exist`));
    });
  });

  describe('machine', () => {
    let licenseId: number;
    let machines: any[];

    beforeAll(async () => {
      // pro: at most 5 machines, no allowance for key holders (deactivationsPerDay 0).
      licenseId = (await ok(['license', 'create', '--policy', String(pro.id)])).id;
      for (const fp of ['fp-a', 'fp-b']) {
        const outcome = await server.services.machines.activate(licenseId, fp, { ip: '198.51.100.4', hostname: `${fp}.local` }, 'explicit');
        expect(outcome?.status).toBe('ACTIVATED');
      }
    });

    it('list --license --json prints the machines, oldest first; the text says the limit', async () => {
      machines = await ok(['machine', 'list', '--license', String(licenseId)]);
      expect(machines.map((m) => m.fingerprint)).toEqual(['fp-a', 'fp-b']);
      expect(machines[0]).toMatchObject({ licenseId, hostname: 'fp-a.local', ip: '198.51.100.4', alive: true, deadAt: null });
      const text = await human(['machine', 'list', '--license', String(licenseId)]);
      expect(text).toMatch(new RegExp(`^License ${licenseId}: 2 machine\\(s\\), at most 5 at once\\.`));
      expect(text).toContain('fp-b');
      const plain = (await ok(['license', 'create', '--product', '8'])).id;
      expect(await ok(['machine', 'list', '--license', String(plain)])).toEqual([]);
      expect(await human(['machine', 'list', '--license', String(plain)])).toMatch(/tracks no machines/);
    });

    it('deactivate frees it as staff: no allowance applies (0 here), audited by cli:…', async () => {
      expect(await ok(['machine', 'deactivate', String(machines[0].id)])).toEqual({ ok: true });
      expect((await ok(['machine', 'list', '--license', String(licenseId)])).map((m: any) => m.id)).toEqual([machines[1].id]);
      expect(await human(['machine', 'deactivate', String(machines[1].id)])).toMatch(/Deactivated machine/);
      expect(await ok(['machine', 'list', '--license', String(licenseId)])).toEqual([]);
      const audit = await server.services.logs.audit({ action: 'machine.deactivated', limit: 10 });
      expect(audit.map((e) => e.actor)).toEqual([expect.stringMatching(/^cli/), expect.stringMatching(/^cli/)]);
      expectFailure(await cli(['machine', 'deactivate', String(machines[0].id), '--json']), ['machine', 'deactivate'], new RegExp(`machine ${machines[0].id} does not exist`));
    });
  });

  it('errors: non-zero exit, one line naming the option and its limit, nothing changed', { timeout: 90_000 }, async () => {
    const before = await ok(['policy', 'list']);
    await allFail([
      [['policy', 'create', '--name', 'X'], /--product/],
      [['policy', 'create', '--name', 'X', '--product', '4242'], /product 4242 does not exist/],
      [['policy', 'create', '--name', '', '--product', '8'], /name must not be empty/],
      [['policy', 'create', '--name', 'x'.repeat(201), '--product', '8'], /name is at most 200 characters/],
      [['policy', 'create', '--name', 'X', '--product', '8', '--max-machines', '0'], /--max-machines.*1 to 100000 or none/],
      [['policy', 'create', '--name', 'X', '--product', '8', '--max-machines', '-1'], /--max-machines.*1 to 100000 or none/],
      [['policy', 'create', '--name', 'X', '--product', '8', '--heartbeat-seconds', '59'], /--heartbeat-seconds.*60 to 86400 or none/],
      [['policy', 'create', '--name', 'X', '--product', '8', '--heartbeat-seconds', '86401'], /--heartbeat-seconds.*60 to 86400/],
      [['policy', 'create', '--name', 'X', '--product', '8', '--deactivations-per-day', '-1'], /--deactivations-per-day.*0 to 1000/],
      [['policy', 'create', '--name', 'X', '--product', '8', '--duration-days', '0'], /--duration-days.*1 to 36500 or never/],
      [['policy', 'create', '--name', 'X', '--product', '8', '--max-uses', 'lots'], /--max-uses.*or none/],
      [['policy', 'create', '--name', 'X', '--product', '8', '--expiry-basis', 'later'], /--expiry-basis.*issued, first-use/],
      [['policy', 'create', '--name', 'X', '--product', '8', '--machine-identity', 'mac'], /--machine-identity.*fingerprint, ip/],
      [['policy', 'create', '--name', 'X', '--product', '8', '--auto-activate', 'maybe'], /--auto-activate.*true or false/],
      [['policy', 'create', '--name', 'X', '--product', '8', '--entitlements', 'pro,Bad Code'], /entitlements\[1\] must be a lowercase code/],
      [['policy', 'update', '987654', '--name', 'X'], /policy 987654 does not exist/],
      [['policy', 'update', String(trial.id), '--max-machines', '100001'], /--max-machines.*1 to 100000/],
      [['policy', 'show', '987654'], /policy 987654 does not exist/],
      [['policy', 'show', 'abc'], /number/],
      [['policy', 'delete', '987654'], /policy 987654 does not exist/],
      [['license', 'create'], /--product ID.*--policy ID/],
      [['license', 'create', '--policy', '987654'], /policy 987654 does not exist/],
      [['license', 'create', '--policy', 'abc'], /--policy.*invalid/],
      [['license', 'create', '--policy', String(trial.id), '--max-machines', '0'], /--max-machines.*1 to 100000/],
      [['license', 'update', '1', '--policy', '987654'], /policy 987654 does not exist/],
      [['license', 'update', '1', '--max-machines', 'none'], /--max-machines.*1 to 100000 or inherit/],
      [['machine', 'list'], /--license/],
      [['machine', 'list', '--license', '987654'], /license 987654 does not exist/],
      [['machine', 'deactivate', '987654'], /machine 987654 does not exist/],
      [['machine', 'frobnicate'], /unknown command/],
    ]);
    expect(await ok(['policy', 'list'])).toEqual(before);
  });

  it('a key pasted where a policy id or a number belongs is not echoed', async () => {
    const key = keys[0]!;
    await allFail([
      [['license', 'create', '--policy', key], /./],
      [['license', 'update', '1', '--policy', key], /./],
      [['policy', 'create', '--name', 'X', '--product', '8', '--max-machines', key], /./],
      [['policy', 'show', key], /./],
      [['machine', 'list', '--license', key], /./],
      [['machine', 'deactivate', key], /./],
    ]);
  });
});
