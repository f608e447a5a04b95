import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { launchChromium, see } from './helpers/browser.js';
import { makeUser } from './helpers/dashboard.js';
import { storedKey } from './helpers/server.js';
import { readLicenseFile, type ListedKey } from './helpers/license-file.js';
import { eachDialect } from './helpers/suite.js';

const DAY_MS = 86_400_000;

/**
 * Entitlements, usage and license files on the dashboard, in a real browser (Chromium) against
 * the real server on each dialect: staff edit a license's codes and limit, change its usage and
 * download a machine's file; its owner sees what the license unlocks and downloads a file too.
 * Plain http, so the browser keeps the session cookie as it is set.
 */
eachDialect(
  'dashboard in a real browser: entitlements, usage and license files',
  (server) => {
    let browser: Browser;
    const contexts: BrowserContext[] = [];
    let product: number;
    let policyId: number;

    beforeAll(async () => {
      browser = await launchChromium();
      product = (await server().services.products.create({ name: 'Render farm' }, 'test')).id;
      policyId = (await server().services.policies.create({ name: 'Studio', productIds: [product], maxMachines: 2, entitlements: ['pro'] }, 'test')).id;
    }, 60_000);

    afterAll(async () => {
      for (const c of contexts) await c.close().catch(() => {});
      await browser?.close().catch(() => {});
    });

    /** A browser signed in as `username` (the session made directly: these tests are not about signing in). */
    async function pageAs(username: string, role: 'customer' | 'staff'): Promise<Page> {
      const user = await makeUser(server(), username, role);
      const { token } = await server().services.sessions.start(user.id, 'full', { ip: '127.0.0.1', userAgent: 'chromium' });
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
      contexts.push(context);
      await context.addCookies([{ name: 'keyward_session', value: token, url: server().url }]);
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      // Destructive buttons ask in place.
      page.on('dialog', (d) => void d.accept());
      return page;
    }

    const activate = async (licenseId: number, fingerprint: string, name: string) => {
      const outcome = await server().services.machines.activate(licenseId, fingerprint, { ip: '198.51.100.40', name }, 'explicit');
      expect(outcome?.status).toBe('ACTIVATED');
      return outcome!.machine!;
    };

    const publicKeys = async (): Promise<ListedKey[]> => ((await (await fetch(`${server().url}/api/public-key`)).json()) as { keys: ListedKey[] }).keys;

    /** Clicks the download button and gives the file's text and its suggested name. */
    async function download(page: Page): Promise<{ name: string; text: string }> {
      const [file] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: /^Download license-\d+\.lic$/ }).click()]);
      return { name: file.suggestedFilename(), text: readFileSync((await file.path())!, 'utf8') };
    }

    it('staff set a license’s own codes and usage limit, refused codes shown by their field, and change its usage', async () => {
      const { id } = await server().services.licenses.create({ policyId, owner: null }, 'test');
      const page = await pageAs('ent-staff', 'staff');
      await page.goto(`${server().url}/staff/licenses/${id}`);
      const features = page.locator('#features');
      await see(features, 'pro from the policy');
      await see(features, '0 counted · not metered');

      await page.getByLabel('Entitlements (own, added to the policy’s)').fill('export, beta');
      await page.getByLabel('Usage limit').fill('10');
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await see(page.getByRole('status'), 'License saved.');
      expect(await server().services.licenses.show(id)).toMatchObject({ entitlements: ['export', 'beta'], maxUses: 10 });
      expect((await features.locator('li').allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim())).toEqual(['pro from the policy', 'export', 'beta']);
      await see(features, '0 / 10');

      // A code that breaks the rule: the page comes back with it typed and the error beside the field.
      await page.getByLabel('Entitlements (own, added to the policy’s)').fill('export, Beta Test');
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await see(page.getByRole('alert'), 'Not saved: entitlements[1] must be a lowercase code');
      await see(page.locator('#entitlements-error'), '"Beta" must be a lowercase code of letters, digits');
      expect(await page.getByLabel('Entitlements (own, added to the policy’s)').getAttribute('aria-invalid')).toBe('true');
      expect(await page.getByLabel('Entitlements (own, added to the policy’s)').inputValue()).toBe('export, Beta Test');
      expect((await server().services.licenses.show(id)).entitlements).toEqual(['export', 'beta']);

      await page.goto(`${server().url}/staff/licenses/${id}`);
      await page.getByLabel('Amount').fill('4');
      await page.getByRole('button', { name: 'Add', exact: true }).click();
      await see(page.getByRole('status'), 'Usage is now 4 of 10.');
      await page.getByLabel('Amount').fill('1');
      await page.getByRole('button', { name: 'Remove', exact: true }).click();
      await see(page.getByRole('status'), 'Usage is now 3 of 10.');
      await see(features, '3 / 10');
      await page.getByLabel('Amount').fill('8');
      await page.getByRole('button', { name: 'Add', exact: true }).click();
      await see(page.getByRole('alert'), `Usage not changed: license ${id} would pass its usage limit (3 of 10 used).`);
      await page.getByLabel('Amount').fill('5');
      await page.getByRole('button', { name: 'Remove', exact: true }).click();
      await see(page.getByRole('alert'), 'Usage not changed: the usage counter cannot go below 0 (it is 3).');
      expect(await server().services.usage.get(id)).toEqual({ licenseId: id, uses: 3, maxUses: 10 });
      await page.getByRole('button', { name: 'Reset usage…' }).click();
      await see(page.getByRole('status'), 'Usage is now 0 of 10.');
      expect((await server().services.usage.get(id)).uses).toBe(0);

      const history = await server().services.logs.audit({ targetType: 'license', targetId: String(id), limit: 20 });
      const usage = history.filter((e) => e.action.startsWith('license.usage_'));
      expect(usage.map((e) => [e.action, e.actor, e.after])).toEqual([
        ['license.usage_reset', 'user:ent-staff', { uses: 0 }],
        ['license.usage_decremented', 'user:ent-staff', { uses: 3 }],
        ['license.usage_incremented', 'user:ent-staff', { uses: 4 }],
      ]);
      await page.reload();
      await see(page.locator('#history'), 'license.usage_reset');
    });

    it('staff download a machine’s license file: armoured, signed by a listed key, for that machine; the machine then shows the file’s hold', async () => {
      const { id } = await server().services.licenses.create({ policyId, entitlements: ['export'], maxUses: 50 }, 'test');
      await activate(id, 'fp-workstation-0001', 'Workstation');
      const laptop = await activate(id, 'fp-laptop-0002', 'Laptop');
      const page = await pageAs('file-staff', 'staff');
      await page.goto(`${server().url}/staff/licenses/${id}`);
      const section = page.locator('#license-file');
      await see(section, 'It cannot be revoked');
      await section.getByLabel('For the machine').selectOption({ label: `Laptop · 198.51.100.40 · fp-laptop-0002` });
      await section.getByLabel('Valid for, in days').fill('7');
      const before = Date.now();
      const file = await download(page);
      expect(file.name).toBe(`license-${id}.lic`);
      expect(file.text).toMatch(/^-----BEGIN KEYWARD LICENSE FILE-----\n/);

      const key = await storedKey(server(), id);
      const opened = readLicenseFile(file.text, await publicKeys(), key, 'fp-laptop-0002');
      expect(opened.alg).toBe('aes-256-gcm+ed25519');
      expect(opened.signed).toBe(true);
      // The signature covers enc: one changed character and it no longer verifies.
      const forged = { ...opened, enc: `${opened.enc[0] === 'A' ? 'B' : 'A'}${opened.enc.slice(1)}` };
      const listed = await publicKeys();
      const signer = listed.find((k) => k.id === opened.kid)!;
      expect(verify(null, Buffer.from(`keyward-license-v1/${forged.enc}`), createPublicKey(signer.pem), Buffer.from(opened.sig, 'base64'))).toBe(false);
      expect(opened.payload.license).toEqual({ id, productIds: [product], entitlements: ['pro', 'export'], expiresAt: null, maxMachines: 2, maxUses: 50 });
      expect(opened.payload.machine).toEqual({ fingerprint: 'fp-laptop-0002' });
      const ends = Date.parse(opened.payload.expiresAt);
      expect(ends).toBeGreaterThanOrEqual(before + 7 * DAY_MS - 1000);
      expect(ends).toBeLessThanOrEqual(Date.now() + 7 * DAY_MS);
      // Another machine's fingerprint does not open it.
      expect(() => readLicenseFile(file.text, listed, key, 'fp-workstation-0001')).toThrow();

      // The machine keeps its slot until the file ends, and the list says so.
      expect((await server().services.machines.get(laptop.id)).fileExpiresAt).toBe(opened.payload.expiresAt);
      await page.reload();
      const row = page.locator('#machines tr').filter({ hasText: 'Laptop' });
      await see(row, /license file holds its slot until \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
      const issued = (await server().services.logs.audit({ targetType: 'license', targetId: String(id), action: 'license.file_issued' }))[0]!;
      expect(issued).toMatchObject({ actor: 'user:file-staff', after: { machineId: laptop.id, alg: 'aes-256-gcm+ed25519', expiresAt: opened.payload.expiresAt } });
    });

    it('the owner sees what the license unlocks and its usage, downloads a file for one of their machines, and reads why it cannot be taken back', async () => {
      const page = await pageAs('erin', 'customer');
      const { id } = await server().services.licenses.create({ policyId, owner: 'erin', entitlements: ['export'], maxUses: 100 }, 'test');
      await server().services.usage.use(id, 12);
      await activate(id, 'fp-erin-desktop', 'Erin desktop');
      await page.goto(`${server().url}/licenses/${id}`);
      const features = page.locator('#features');
      await see(features, 'What this license unlocks');
      expect((await features.locator('li').allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim())).toEqual(['pro from the policy', 'export']);
      await see(features, '12 / 100');
      const section = page.locator('#license-file');
      await see(section, 'it works offline until the date it ends');
      await see(section, 'An issued file cannot be taken back');
      await see(section, 'that machine keeps its slot until the file ends');
      // Customers are not shown fingerprints, here either.
      expect(await section.getByLabel('For the machine').locator('option').allTextContents()).toEqual(['Erin desktop · 198.51.100.40']);
      expect(await section.getByLabel('Valid for, in days').inputValue()).toBe('30');

      const file = await download(page);
      expect(file.name).toBe(`license-${id}.lic`);
      const opened = readLicenseFile(file.text, await publicKeys(), await storedKey(server(), id), 'fp-erin-desktop');
      expect(opened.signed).toBe(true);
      expect(opened.payload.license).toMatchObject({ id, entitlements: ['pro', 'export'], maxUses: 100 });
      expect(Date.parse(opened.payload.expiresAt) - Date.parse(opened.payload.issuedAt)).toBe(30 * DAY_MS);
      const issued = await server().services.logs.audit({ targetType: 'license', targetId: String(id), action: 'license.file_issued' });
      expect(issued.map((e) => e.actor)).toEqual(['user:erin']);

      // The machine now keeps its slot: freeing it says so, and the slot stays taken until the file ends.
      await page.reload();
      const machine = page.locator('#machines li').filter({ hasText: 'Erin desktop' });
      await see(machine, `keeps its slot until`);
      await machine.getByRole('button', { name: 'Free this machine' }).click();
      await see(page.getByRole('status'), '"Erin desktop" is freed; its license file keeps its slot until');
      await see(page.locator('#machines'), '1 of 2 in use');
      await see(page.locator('#machines li').filter({ hasText: 'Erin desktop' }), 'freed');
      await see(section, 'No machine is active on this license now');
    });

    it('a license that tracks no machines gives its owner an unbound file', async () => {
      const page = await pageAs('finn', 'customer');
      const { id } = await server().services.licenses.create({ productIds: [product], owner: 'finn' }, 'test');
      await page.goto(`${server().url}/licenses/${id}`);
      const section = page.locator('#license-file');
      expect(await section.getByLabel('For the machine').count()).toBe(0);
      await see(page.locator('#features'), 'No feature codes.');
      await section.getByLabel('Valid for, in days').fill('1');
      const file = await download(page);
      const opened = readLicenseFile(file.text, await publicKeys(), await storedKey(server(), id), null);
      expect(opened.signed).toBe(true);
      expect(opened.payload.machine).toBeNull();
      expect(opened.payload.license).toMatchObject({ id, entitlements: [], maxMachines: null, maxUses: null });
    });
  },
  { PUBLIC_URL: 'http://127.0.0.1' },
);
