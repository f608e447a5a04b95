import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliChecks } from './helpers/cli.js';
import { describeEachDialect } from './helpers/dialects.js';
import { openLicenseFile } from './helpers/license-file.js';
import { ISO_TIME } from './helpers/patterns.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const HOUR_MS = 3_600_000;

/**
 * `keyward license create|update --entitlements --max-uses`, `license usage` and `license file`,
 * through the built CLI (bin/keyward.js → dist/), against a running server's database. The tests
 * of one dialect run in order and share its licenses.
 */
describeEachDialect('keyward license usage / file CLI ($name)', (create) => {
  let server: TestServer;
  let dir: string;
  const { keys, cli, ok, human, expectFailure, allFail } = cliChecks(() => server.db.env);

  const audit = (action: string, licenseId: number) => server.services.logs.audit({ action, targetId: String(licenseId), limit: 100 });

  beforeAll(async () => {
    server = await startTestServer(await create());
    await server.services.products.create({ id: 8, name: 'Script' }, 'test');
    dir = mkdtempSync(path.join(os.tmpdir(), 'keyward-cli-files-'));
  });
  afterAll(async () => {
    await server?.close();
    await server?.db.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  let metered: { id: number; key: string };
  let policyId: number;

  describe('license create / update / show', () => {
    it('create --entitlements --max-uses sets its own codes and limit; show says them', async () => {
      metered = await ok(['license', 'create', '--product', '8', '--entitlements', 'pro,export,pro', '--max-uses', '5']);
      expect(metered).toMatchObject({ entitlements: ['pro', 'export'], uses: 0, maxUses: 5 });
      const text = await human(['license', 'show', String(metered.id)]);
      expect(text).toMatch(/^entitlements: +pro, export$/m);
      expect(text).toMatch(/^uses: +0$/m);
      expect(text).toMatch(/^max uses: +5$/m);
      const plain = await human(['license', 'show', String((await ok(['license', 'create', '--product', '8'])).id)]);
      expect(plain).toMatch(/^entitlements: +-$/m);
      expect(plain).toMatch(/^max uses: +not metered$/m);
    });

    it("a policy's license shows that the policy grants codes and a limit too", async () => {
      policyId = (await ok(['policy', 'create', '--name', 'Metered', '--product', '8', '--entitlements', 'pro', '--max-uses', '50'])).id;
      const license = await ok(['license', 'create', '--policy', String(policyId), '--entitlements', 'export', '--max-uses', 'none']);
      expect(license).toMatchObject({ policyId, entitlements: ['export'], maxUses: null });
      const text = await human(['license', 'show', String(license.id)]);
      expect(text).toMatch(/^entitlements: +export \(plus the policy's\)$/m);
      expect(text).toMatch(/^max uses: +the policy's$/m);
      expect(await ok(['license', 'usage', String(license.id)])).toEqual({ licenseId: license.id, uses: 0, maxUses: 50 });
    });

    it('update --entitlements replaces the codes ("" for none); --max-uses N or none; other fields stay', async () => {
      const changed = await ok(['license', 'update', String(metered.id), '--entitlements', 'beta', '--max-uses', '7']);
      expect(changed).toMatchObject({ entitlements: ['beta'], maxUses: 7, productIds: [8] });
      const cleared = await ok(['license', 'update', String(metered.id), '--entitlements', '', '--max-uses', 'none']);
      expect(cleared).toMatchObject({ entitlements: [], maxUses: null });
      expect(await ok(['license', 'update', String(metered.id), '--max-uses', '5'])).toMatchObject({ entitlements: [], maxUses: 5 });
    });
  });

  describe('license usage', () => {
    it('without an action shows the counter and the limit in force', async () => {
      expect(await ok(['license', 'usage', String(metered.id)])).toEqual({ licenseId: metered.id, uses: 0, maxUses: 5 });
      expect(await human(['license', 'usage', String(metered.id)])).toBe(`License ${metered.id}: 0 of 5 uses.\n`);
      const open = (await ok(['license', 'create', '--product', '8'])).id;
      expect(await human(['license', 'usage', String(open), '--increment', '9'])).toBe(`License ${open}: 9 uses (not metered).\n`);
    });

    it('--increment within the limit, refused past it; --decrement down to 0; --reset; each audited as cli', async () => {
      const id = String(metered.id);
      expect(await ok(['license', 'usage', id, '--increment', '3'])).toEqual({ licenseId: metered.id, uses: 3, maxUses: 5 });
      expectFailure(await cli(['license', 'usage', id, '--increment', '3']), ['usage --increment 3'], /would pass its usage limit \(3 of 5 used\)/);
      expect((await ok(['license', 'usage', id])).uses).toBe(3);
      expect(await ok(['license', 'usage', id, '--decrement', '1'])).toMatchObject({ uses: 2 });
      expectFailure(await cli(['license', 'usage', id, '--decrement', '3']), ['usage --decrement 3'], /cannot go below 0 \(it is 2\)/);
      expect(await human(['license', 'usage', id, '--reset'])).toBe(`License ${metered.id}: 0 of 5 uses.\n`);
      const entries = [
        ...(await audit('license.usage_incremented', metered.id)),
        ...(await audit('license.usage_decremented', metered.id)),
        ...(await audit('license.usage_reset', metered.id)),
      ].sort((a, b) => a.id - b.id);
      expect(entries.map((e) => [e.action, e.before, e.after])).toEqual([
        ['license.usage_incremented', { uses: 0 }, { uses: 3 }],
        ['license.usage_decremented', { uses: 3 }, { uses: 2 }],
        ['license.usage_reset', { uses: 2 }, { uses: 0 }],
      ]);
      for (const e of entries) expect(e.actor).toMatch(/^cli/);
    });

    it('errors: one action at most, whole numbers within 1-1000000, a license that exists; nothing counted', async () => {
      const id = String(metered.id);
      await allFail([
        [['license', 'usage', id, '--increment', '1', '--reset'], /give one of --increment N, --decrement N or --reset, not several/],
        [['license', 'usage', id, '--increment', '1', '--decrement', '1'], /not several/],
        [['license', 'usage', id, '--increment', '0'], /--increment.*1 to 1000000/],
        [['license', 'usage', id, '--increment', '1000001'], /--increment.*1 to 1000000/],
        [['license', 'usage', id, '--increment', '1.5'], /--increment.*whole number/],
        [['license', 'usage', id, '--decrement', '-1'], /--decrement/],
        [['license', 'usage', id, '--increment'], /--increment/],
        [['license', 'usage', '987654'], /license 987654 does not exist/],
        [['license', 'usage', '987654', '--reset'], /license 987654 does not exist/],
        [['license', 'usage', 'abc'], /number/],
        [['license', 'usage', keys[0]!], /./],
      ]);
      expect((await ok(['license', 'usage', id])).uses).toBe(0);
    });
  });

  describe('license file', () => {
    const at = (name: string) => path.join(dir, name);
    const mode = (file: string) => statSync(file).mode & 0o777;

    it('--out FILE writes a file that verifies with the published key (mode 0600) and says where and until when', async () => {
      const out = at('metered.lic');
      const result = await ok(['license', 'file', String(metered.id), '--out', out]);
      expect(result).toEqual({ licenseId: metered.id, expiresAt: expect.stringMatching(ISO_TIME), out });
      expect(mode(out)).toBe(0o600);
      const { envelope, payload } = await openLicenseFile(server.url, readFileSync(out, 'utf8'), metered.key);
      expect(envelope.alg).toBe('aes-256-gcm+ed25519');
      expect(payload).toMatchObject({ license: { id: metered.id, productIds: [8], maxUses: 5 }, machine: null, expiresAt: result.expiresAt });
      expect(Date.parse(payload.expiresAt) - Date.parse(payload.issuedAt)).toBe(30 * 24 * HOUR_MS);

      const text = await human(['license', 'file', String(metered.id), '--out', at('human.lic'), '--alg', 'base64+ed25519', '--ttl', '3600']);
      const until = /valid until (\S+)\.$/m.exec(text)?.[1];
      expect(text).toBe(`Wrote the license file of license ${metered.id} to ${at('human.lic')} (mode 0600); it is valid until ${until}.\n`);
      const opened = await openLicenseFile(server.url, readFileSync(at('human.lic'), 'utf8'), metered.key);
      expect(opened.envelope.alg).toBe('base64+ed25519');
      expect(opened.payload.expiresAt).toBe(until);
      expect(Date.parse(opened.payload.expiresAt) - Date.parse(opened.payload.issuedAt)).toBe(HOUR_MS);
    });

    it('a relative --out is written in the working folder and reported in full', async () => {
      const res = await cli(['license', 'file', String(metered.id), '--out', 'relative.lic', '--json'], dir);
      expect(res.stderr).toBe('');
      expect(res.json.out).toBe(at('relative.lic'));
      expect(mode(at('relative.lic'))).toBe(0o600);
    });

    it('refuses to overwrite an existing file, issuing nothing; --force replaces it, mode 0600 again', async () => {
      const out = at('taken.lic');
      writeFileSync(out, 'mine\n');
      chmodSync(out, 0o644);
      const issued = (await audit('license.file_issued', metered.id)).length;
      expectFailure(await cli(['license', 'file', String(metered.id), '--out', out]), ['file --out taken.lic'], /taken\.lic already exists; choose another name or pass --force/);
      expect(readFileSync(out, 'utf8')).toBe('mine\n');
      expect(await audit('license.file_issued', metered.id)).toHaveLength(issued);
      await ok(['license', 'file', String(metered.id), '--out', out, '--force']);
      expect(mode(out)).toBe(0o600);
      await openLicenseFile(server.url, readFileSync(out, 'utf8'), metered.key);
      expect(await audit('license.file_issued', metered.id)).toHaveLength(issued + 1);
    });

    it('--out - prints the file itself (or, with --json, the file in JSON)', async () => {
      const raw = await human(['license', 'file', String(metered.id), '--out', '-', '--alg', 'base64+ed25519']);
      expect(raw).toMatch(/^-----BEGIN KEYWARD LICENSE FILE-----\n[\s\S]+\n-----END KEYWARD LICENSE FILE-----\n$/);
      expect((await openLicenseFile(server.url, raw, metered.key)).payload.license.id).toBe(metered.id);
      const json = await ok(['license', 'file', String(metered.id), '--out', '-']);
      expect(Object.keys(json).sort()).toEqual(['expiresAt', 'file', 'licenseId']);
      await openLicenseFile(server.url, json.file, metered.key);
    });

    it('a license that tracks machines: --fingerprint of an active machine binds the file to it', async () => {
      const machinePolicy = await ok(['policy', 'create', '--name', 'One box', '--product', '8', '--max-machines', '1']);
      const license = await ok(['license', 'create', '--policy', String(machinePolicy.id)]);
      expect((await server.services.machines.activate(license.id, 'box-1', { ip: '198.51.100.4' }, 'explicit'))?.status).toBe('ACTIVATED');
      await allFail([
        [['license', 'file', String(license.id), '--out', at('unnamed.lic')], /tracks machines: name the machine's fingerprint/],
        [['license', 'file', String(license.id), '--out', at('unknown.lic'), '--fingerprint', 'box-2'], /has no active machine with this fingerprint/],
      ]);
      expect(existsSync(at('unnamed.lic')) || existsSync(at('unknown.lic'))).toBe(false);
      const out = at('box-1.lic');
      await ok(['license', 'file', String(license.id), '--out', out, '--fingerprint', 'box-1', '--ttl', '7200']);
      const { payload } = await openLicenseFile(server.url, readFileSync(out, 'utf8'), license.key, 'box-1');
      expect(payload.machine).toEqual({ fingerprint: 'box-1' });
      expect(payload.license.maxMachines).toBe(1);
      const [machine] = await ok(['machine', 'list', '--license', String(license.id)]);
      expect(machine.fileExpiresAt).toBe(payload.expiresAt);
    });

    it('errors: one line, nothing written, no temporary file left behind', async () => {
      const short = await server.services.licenses.create({ productIds: [8], key: 'SHORT-KEY-0000001' }, 'test');
      keys.push(short.key);
      const id = String(metered.id);
      await allFail([
        [['license', 'file', String(short.id), '--out', at('short.lic')], /keys shorter than 20 characters, get no license files/],
        [['license', 'file', id, '--out', at('x.lic'), '--ttl', '3599'], /--ttl.*3600 to 31536000/],
        [['license', 'file', id, '--out', at('x.lic'), '--ttl', '31536001'], /--ttl.*3600 to 31536000/],
        [['license', 'file', id, '--out', at('x.lic'), '--alg', 'rsa'], /--alg.*aes-256-gcm\+ed25519, base64\+ed25519/],
        [['license', 'file', id, '--out', at('x.lic'), '--fingerprint', ''], /fingerprint must be 1-255 printable ASCII characters/],
        [['license', 'file', id, '--out', at('x.lic'), '--fingerprint', 'x'.repeat(256)], /fingerprint must be 1-255 printable ASCII characters/],
        [['license', 'file', id], /required option '--out <file>'/],
        [['license', 'file', id, '--out', path.join(dir, 'no-such-folder', 'x.lic')], /cannot write a file in .*no-such-folder \(ENOENT\)/],
        [['license', 'file', '987654', '--out', at('x.lic')], /license 987654 does not exist/],
        [['license', 'file', 'abc', '--out', at('x.lic')], /number/],
      ]);
      expect(readdirSync(dir).sort()).toEqual(['box-1.lic', 'human.lic', 'metered.lic', 'relative.lic', 'taken.lic']);
    });
  });
});
