import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startServer, type RunningServer } from '../src/server.js';
import { CHROMIUM, launchChromium, see } from './helpers/browser.js';
import { freePort } from './helpers/cli.js';
import { createSqlite, type TestDatabase } from './helpers/dialects.js';
import { request } from './helpers/http.js';
import { OAuthStandIn } from './helpers/oauth-stand-in.js';
import { LICENSE_KEY } from './helpers/patterns.js';

/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core), on SQLite; the
 * HTTP suites cover both dialects. Screenshots of the main pages go to the test's temp folder
 * (or KEYWARD_SCREENSHOTS when set, to keep them).
 */
const available = existsSync(CHROMIUM);

if (!available && process.env.CI) {
  describe('dashboard in a real browser', () => {
    it('needs Chromium in CI', () => {
      throw new Error(`${CHROMIUM} is missing: CI must install it (apt-get install -y chromium); the browser suite may not be skipped in CI`);
    });
  });
} else if (!available) {
  process.stdout.write(`\n[keyward tests] ${CHROMIUM} not found: skipping the browser suite (install Debian's chromium to run it).\n\n`);
  describe.skip('dashboard in a real browser (no Chromium here)', () => {
    it('skipped', () => {});
  });
} else {
  browserSuite();
}

function browserSuite() {
  describe('dashboard in a real browser', () => {
    let db: TestDatabase;
    let server: RunningServer;
    let browser: Browser;
    let oauth: OAuthStandIn;
    let base: string;
    let shotsDir: string;
    let tmp: string;
    const logLines: string[] = [];
    const contexts: BrowserContext[] = [];
    const state: { key?: string; licenseId?: number; customerId?: number } = {};

    beforeAll(async () => {
      tmp = mkdtempSync(path.join(os.tmpdir(), 'keyward-browser-'));
      shotsDir = process.env.KEYWARD_SCREENSHOTS ?? path.join(tmp, 'screenshots');
      mkdirSync(shotsDir, { recursive: true });
      oauth = await new OAuthStandIn().start();
      db = await createSqlite();
      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      const sink = new Writable({
        write(chunk, _enc, done) {
          logLines.push(String(chunk));
          done();
        },
      });
      const config = loadConfig(
        { ...db.env, ...oauth.env, HOST: '127.0.0.1', PORT: String(port), PUBLIC_URL: base, TRUST_PROXY: 'loopback' },
        { dotenv: false },
      );
      server = await startServer(config, pino({ level: 'warn' }, sink));
      browser = await launchChromium();
    }, 120_000);

    afterAll(async () => {
      for (const c of contexts) await c.close().catch(() => {});
      await browser?.close().catch(() => {});
      await server?.close();
      await oauth?.close();
      await db?.cleanup();
      if (!process.env.KEYWARD_SCREENSHOTS) rmSync(tmp, { recursive: true, force: true });
    });

    async function newPage(viewport = { width: 1280, height: 900 }): Promise<Page> {
      const context = await browser.newContext({ viewport });
      contexts.push(context);
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      // Destructive buttons ask for confirmation in place.
      page.on('dialog', (d) => void d.accept());
      return page;
    }

    async function shot(page: Page, name: string): Promise<void> {
      const file = path.join(shotsDir, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      expect(statSync(file).size).toBeGreaterThan(5_000);
    }

    const nav = (page: Page, name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true }).click();

    const check = async (key: string, ip: string) =>
      (await request(base, { path: '/api/check/8', headers: { authorization: key, 'x-real-ip': ip } })).json.status as string;
    const settle = () => new Promise((r) => setTimeout(r, 400));

    let admin: Page;

    it('first run: the printed setup URL creates the first admin, who lands on the overview', async () => {
      const url = /(http:\/\/127\.0\.0\.1:\d+\/setup\?token=[A-Za-z0-9_-]+)/.exec(logLines.join('\n'))?.[1];
      expect(url).toBeTruthy();
      admin = await newPage();
      await admin.goto(url!);
      await shot(admin, '01-setup');
      await admin.getByLabel('Username').fill('owner');
      await admin.getByLabel('Email').fill('owner@example.com');
      await admin.getByLabel('Password (at least 8 characters)').fill('owner-pass-123');
      await admin.getByLabel('Repeat the password').fill('owner-pass-123');
      await admin.getByRole('button', { name: 'Create admin and sign in' }).click();
      await admin.waitForURL(`${base}/staff`);
      await admin.getByRole('heading', { name: 'Overview' }).waitFor();
      await shot(admin, '02-overview-empty');
    });

    it('staff create a product, a customer and a license for them (the key is shown once)', async () => {
      await nav(admin, 'Products');
      await admin.getByLabel('Name').fill('Fuel Script');
      await admin.getByLabel('Id (optional; the FaxStore item id)').fill('8');
      await admin.getByLabel('Description (optional)').fill('Fuel stations for FiveM servers');
      await admin.getByRole('button', { name: 'Create product' }).click();
      await see(admin.getByRole('status'), 'Product 8 "Fuel Script" created.');
      await shot(admin, '03-products');

      await nav(admin, 'Users');
      await admin.getByLabel('Username').fill('buyer');
      await admin.getByLabel('Email (optional)').fill('buyer@example.com');
      await admin.getByLabel('Password (empty: generate one)').fill('buyer-pass-123');
      await admin.getByRole('button', { name: 'Create user' }).click();
      await admin.waitForURL(/\/staff\/users\/\d+$/);
      state.customerId = Number(admin.url().split('/').pop());
      await shot(admin, '04-user');

      await admin.getByRole('link', { name: 'Issue a license' }).click();
      await admin.getByLabel('8 · Fuel Script').check();
      expect(await admin.getByLabel('Owner (username; optional)').inputValue()).toBe('buyer');
      await admin.getByRole('checkbox', { name: 'IP lock' }).check();
      await admin.getByLabel('Note (staff only)').fill('FaxStore order 1001');
      await shot(admin, '05-license-new');
      await admin.getByRole('button', { name: 'Create license' }).click();
      await admin.getByRole('heading', { name: /License #\d+ created/ }).waitFor();
      state.key = (await admin.locator('#new-key').textContent())!.trim();
      state.licenseId = Number(/#(\d+)/.exec((await admin.getByRole('heading', { level: 1 }).textContent())!)![1]);
      expect(state.key).toMatch(LICENSE_KEY);
      await shot(admin, '06-key-shown');
      await nav(admin, 'Licenses');
      await admin.getByRole('link', { name: `#${state.licenseId}` }).waitFor();
      await shot(admin, '07-licenses');
    });

    it('the customer signs in, reveals the key, sets an IP; the key then passes from that IP only', async () => {
      const page = await newPage();
      await page.goto(`${base}/`);
      await page.waitForURL(`${base}/login`);
      await shot(page, '08-login');
      await page.getByLabel('Username or email').fill('buyer');
      await page.getByLabel('Password').fill('buyer-pass-123');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(`${base}/licenses`);
      await page.getByRole('heading', { name: 'My licenses' }).waitFor();
      await shot(page, '09-my-licenses');
      await page.getByRole('link', { name: 'Manage' }).click();
      await page.waitForURL(`${base}/licenses/${state.licenseId}`);
      await see(page.locator('#license-key'), '••••••••••••');
      await page.getByRole('button', { name: 'Reveal' }).click();
      await see(page.locator('#license-key'), state.key!);
      await page.getByRole('button', { name: 'Copy' }).waitFor();

      await page.getByLabel('One IPv4/IPv6 address or CIDR block per line').fill('203.0.113.7');
      await page.getByRole('button', { name: 'Save IPs' }).click();
      await see(page.getByRole('status'), 'Allowed IPs saved.');
      await settle();
      expect(await check(state.key!, '203.0.113.7')).toBe('AUTHORISED');
      expect(await check(state.key!, '203.0.113.8')).toBe('NOT AUTHORISED');
      await (server as unknown as { writeBehind: { flush(): Promise<void> } }).writeBehind.flush();
      await page.reload();
      await see(page.locator('table.checks'), 'NOT AUTHORISED');
      await page.locator('svg.chart').waitFor();
      await shot(page, '10-license-detail');

      await page.getByRole('button', { name: 'Regenerate…' }).click();
      await page.getByRole('heading', { name: /New key for license/ }).waitFor();
      const newKey = (await page.locator('#new-key').textContent())!.trim();
      expect(newKey).not.toBe(state.key);
      await shot(page, '11-regenerated');
      await settle();
      expect(await check(state.key!, '203.0.113.7')).toBe('NOT FOUND');
      expect(await check(newKey, '203.0.113.7')).toBe('AUTHORISED');
      state.key = newKey;
    });

    it('staff force-disable the license and the check says KEY DISABLED', async () => {
      await admin.goto(`${base}/staff/licenses/${state.licenseId}`);
      await admin.getByRole('button', { name: 'Force disable' }).click();
      await see(admin.getByRole('status'), 'License disabled');
      await shot(admin, '12-staff-license');
      await settle();
      expect(await check(state.key!, '203.0.113.7')).toBe('KEY DISABLED');
      await admin.goto(`${base}/staff`);
      await shot(admin, '13-overview');
      await admin.goto(`${base}/staff/audit`);
      await see(admin.locator('table.audit'), 'license.updated');
      await shot(admin, '14-audit');
      await admin.goto(`${base}/staff/checks`);
      await shot(admin, '15-previous-auths');
    });

    it('signs in with Discord against the stand-in OAuth server', async () => {
      await admin.goto(`${base}/staff/users/${state.customerId}`);
      await admin.getByLabel('Discord user id (links Discord sign-in)').fill('400000000000000001');
      await admin.getByRole('button', { name: 'Save' }).click();
      await see(admin.getByRole('status'), 'User saved.');
      oauth.nextUser = { id: '400000000000000001', username: 'buyer_on_discord' };
      const page = await newPage();
      await page.goto(`${base}/login`);
      await page.getByRole('link', { name: 'Sign in with Discord' }).click();
      await page.waitForURL(`${base}/licenses`);
      await page.getByText('buyer', { exact: false }).first().waitFor();
      await page.goto(`${base}/account`);
      await see(page.locator('main'), 'linked (id 400000000000000001)');
      await shot(page, '16-account');
    });

    it('on a phone (390 px), the owner frees a machine within the day’s frees; then the button is disabled', async () => {
      const { services } = server;
      const policy = await services.policies.create({ name: 'Two servers', productIds: [8], maxMachines: 2, deactivationsPerDay: 1 }, 'test');
      const { id } = await services.licenses.create({ policyId: policy.id, owner: 'buyer' }, 'test');
      for (const [fp, name, ip] of [['fp-old-server', 'Old server', '198.51.100.31'], ['fp-new-server', 'New server', '198.51.100.32']]) {
        await services.machines.activate(id, fp!, { ip: ip!, name, platform: 'linux' }, 'explicit');
      }
      const page = await newPage({ width: 390, height: 844 });
      await page.goto(`${base}/login`);
      await page.getByLabel('Username or email').fill('buyer');
      await page.getByLabel('Password').fill('buyer-pass-123');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(`${base}/licenses`);
      await page.goto(`${base}/licenses/${id}`);
      const machines = page.locator('#machines');
      await see(machines, '1 of 1 frees left today');
      await see(machines, '2 of 2 in use');
      await shot(page, '17-machines-phone');
      const old = machines.locator('li').filter({ hasText: 'Old server' });
      await old.getByRole('button', { name: 'Free this machine' }).click();
      await see(page.getByRole('status'), '"Old server" is freed');
      await see(machines, '0 of 1 frees left today');
      await see(machines, '1 of 2 in use');
      expect(await machines.getByText('Old server').count()).toBe(0);
      const left = machines.locator('li').filter({ hasText: 'New server' }).getByRole('button', { name: 'Free this machine' });
      expect(await left.isDisabled()).toBe(true);
      // Nothing on the page is wider than the phone's screen.
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      await shot(page, '18-machines-phone-spent');
      expect((await services.machines.list(id)).machines.map((m) => m.name)).toEqual(['New server']);
    });
  });
}
