import { beforeAll, expect, it } from 'vitest';
import { securityCast, seedMachine, type LicenseWithMachine } from './helpers/dashboard.js';
import { eachDialect } from './helpers/suite.js';
import { pageText, type WebClient } from './helpers/web-client.js';

eachDialect('dashboard authorisation: entitlements, usage and license files', (server) => {
  let mallory: WebClient;
  let victimClient: WebClient;
  let staff: WebClient;
  let product: number;
  let policyId: number;
  let victim: LicenseWithMachine;
  let own: LicenseWithMachine;

  const seed = (licenseId: number, fingerprint: string, name: string) => seedMachine(server(), licenseId, fingerprint, name);
  const audit = async (licenseId: number, prefix: string) =>
    (await server().services.logs.audit({ targetType: 'license', targetId: String(licenseId), limit: 100 })).filter((e) => e.action.startsWith(prefix));
  const fileOf = async (machineId: number) => (await server().services.machines.get(machineId)).fileExpiresAt;

  beforeAll(async () => {
    product = (await server().services.products.create({ name: 'Metered product' }, 'test')).id;
    policyId = (await server().services.policies.create({ name: 'Metered plan', productIds: [product], maxMachines: 3, entitlements: ['pro'], maxUses: 100 }, 'test')).id;
    const machines = { victim: ['victim-fp-0001', 'victim-box'], own: ['mallory-fp-0001', 'mallory-box'] } as const satisfies Record<string, [string, string]>;
    ({ mallory, victimClient, staff, victim, own } = await securityCast(server(), policyId, machines, { entitlements: ['victim-secret-code'] }));
    await server().services.usage.use(victim.id, 7);
  });

  it('never gives a customer another customer’s license file, nor a file for another license’s machine: 404, nothing issued', async () => {
    const page = await mallory.get(`/licenses/${victim.id}`);
    expect(page.status).toBe(404);
    expect(page.text).not.toContain('victim-secret-code');
    await mallory.get(`/licenses/${own.id}`);
    const attempts: [string, Record<string, string>][] = [
      [`/licenses/${victim.id}/file`, { machineId: String(victim.machineId) }],
      [`/licenses/${victim.id}/file`, {}],
      // Their own license in the URL, the victim's machine: still not theirs.
      [`/licenses/${own.id}/file`, { machineId: String(victim.machineId) }],
      [`/licenses/${own.id}/file`, { machineId: '999999' }],
      [`/licenses/${own.id}/file`, { machineId: '-1' }],
      [`/licenses/${own.id}/file`, { machineId: 'abc' }],
      [`/licenses/999999/file`, { machineId: String(victim.machineId) }],
    ];
    for (const [path, fields] of attempts) {
      const res = await mallory.post(path, { ...fields, days: '30' });
      expect(res.status, `${path} ${JSON.stringify(fields)}`).toBe(404);
      expect(res.headers.get('content-disposition'), path).toBeNull();
      expect(res.text).not.toContain('BEGIN KEYWARD LICENSE FILE');
    }
    // The staff route is not theirs either.
    const staffRoute = await mallory.post(`/staff/licenses/${victim.id}/file`, { machineId: String(victim.machineId) });
    expect(staffRoute.status).toBe(403);
    expect(staffRoute.text).not.toContain('BEGIN KEYWARD LICENSE FILE');
    expect(await audit(victim.id, 'license.file_issued')).toEqual([]);
    expect(await audit(own.id, 'license.file_issued')).toEqual([]);
    expect(await fileOf(victim.machineId)).toBeNull();
  });

  it('keeps customers from every usage and license change on the staff side (403), changing nothing', async () => {
    await mallory.get(`/licenses/${own.id}`);
    const posts: [string, Record<string, string>][] = [
      [`/staff/licenses/${own.id}/usage`, { change: 'remove', amount: '1' }],
      [`/staff/licenses/${victim.id}/usage`, { change: 'add', amount: '93' }],
      [`/staff/licenses/${victim.id}/usage/reset`, { confirm: 'yes' }],
      [`/staff/licenses/${own.id}/usage/reset`, { confirm: 'yes' }],
      [`/staff/licenses/${own.id}`, { productIds: String(product), policyId: String(policyId), entitlements: 'everything', maxUses: '' }],
    ];
    for (const [path, fields] of posts) {
      const res = await mallory.post(path, fields);
      expect(res.status, path).toBe(403);
    }
    // There is no customer route that changes usage.
    for (const path of [`/licenses/${own.id}/usage`, `/licenses/${own.id}/usage/reset`]) {
      expect((await mallory.post(path, { change: 'add', amount: '1', confirm: 'yes' })).status, path).toBe(404);
    }
    expect(await server().services.usage.get(victim.id)).toEqual({ licenseId: victim.id, uses: 7, maxUses: 100 });
    expect(await server().services.usage.get(own.id)).toEqual({ licenseId: own.id, uses: 0, maxUses: 100 });
    expect(await server().services.licenses.show(own.id)).toMatchObject({ entitlements: [], maxUses: null });
    expect(await audit(victim.id, 'license.usage_')).toEqual([]);
    expect(await audit(own.id, 'license.')).toEqual(expect.not.arrayContaining([expect.objectContaining({ action: 'license.updated' })]));
  });

  it('refuses every new POST without a CSRF token, or with another session’s (403), changing and issuing nothing', async () => {
    await victimClient.get(`/licenses/${victim.id}`);
    const victimToken = victimClient.csrf;
    await mallory.get(`/licenses/${own.id}`);
    const malloryToken = mallory.csrf;
    for (const csrf of [false as const, malloryToken]) {
      const res = await victimClient.post(`/licenses/${victim.id}/file`, { machineId: String(victim.machineId), days: '30' }, { csrf });
      expect(res.status, `owner file ${csrf ? 'other session' : 'none'}`).toBe(403);
      expect(pageText(res.text)).toContain('Form expired');
      expect(res.headers.get('content-disposition')).toBeNull();
    }
    await staff.get(`/staff/licenses/${victim.id}`);
    const staffPosts: [string, Record<string, string>][] = [
      [`/staff/licenses/${victim.id}/usage`, { change: 'add', amount: '3' }],
      [`/staff/licenses/${victim.id}/usage/reset`, { confirm: 'yes' }],
      [`/staff/licenses/${victim.id}/file`, { machineId: String(victim.machineId), days: '30' }],
      [`/staff/licenses/${victim.id}`, { productIds: String(product), policyId: String(policyId), owner: 'victim', active: '1', entitlements: 'forged', maxUses: '1' }],
    ];
    for (const [path, fields] of staffPosts) {
      for (const csrf of [false as const, victimToken]) {
        const res = await staff.post(path, fields, { csrf });
        expect(res.status, `${path} ${csrf ? 'other session' : 'none'}`).toBe(403);
        expect(res.headers.get('content-disposition')).toBeNull();
      }
    }
    expect((await server().services.usage.get(victim.id)).uses).toBe(7);
    expect(await server().services.licenses.show(victim.id)).toMatchObject({ entitlements: ['victim-secret-code'], maxUses: null });
    expect(await audit(victim.id, 'license.file_issued')).toEqual([]);
    expect(await fileOf(victim.machineId)).toBeNull();
  });

  it('sends a file as a download no cache keeps, and writes it to the license’s history under the viewer’s name', async () => {
    await victimClient.get(`/licenses/${victim.id}`);
    const res = await victimClient.post(`/licenses/${victim.id}/file`, { machineId: String(victim.machineId), days: '2' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="license-${victim.id}.lic"`);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.text).toMatch(/^-----BEGIN KEYWARD LICENSE FILE-----\n[\s\S]+\n-----END KEYWARD LICENSE FILE-----\n$/);
    expect((await audit(victim.id, 'license.file_issued')).map((e) => e.actor)).toEqual(['user:victim']);
    expect(Date.parse((await fileOf(victim.machineId))!) - Date.now()).toBeGreaterThan(2 * 86_400_000 - 60_000);
  });

  it('issues nothing for a refused request: a lifetime out of range, a freed machine, no machine named, an IP-identity policy, a disabled license', async () => {
    const before = (await audit(own.id, 'license.file_issued')).length;
    await mallory.get(`/licenses/${own.id}`);
    const refused = async (licenseId: number, fields: Record<string, string>, message: string) => {
      const res = await mallory.post(`/licenses/${licenseId}/file`, fields);
      expect(res.status, message).toBe(303);
      expect(res.headers.get('content-disposition'), message).toBeNull();
      expect(pageText((await mallory.follow(res)).text), message).toContain(message);
    };
    for (const days of ['0', '366', 'soon', '-1']) {
      await refused(own.id, { machineId: String(own.machineId), days }, 'A license file lasts 1 to 365 days. Nothing was issued.');
    }
    await refused(own.id, { days: '30' }, 'This license counts machines: choose the machine the file is for. A file is for one of its active machines. Nothing was issued.');
    const gone = await seed(own.id, 'mallory-fp-freed', 'old-box');
    await server().services.machines.deactivate(own.id, { id: gone }, { by: 'owner', actor: 'user:mallory', userId: (await server().services.users.findByUsername('mallory'))!.id });
    // Freed with no file: the machine is gone, so it is not found.
    expect((await mallory.post(`/licenses/${own.id}/file`, { machineId: String(gone), days: '30' })).status).toBe(404);

    const ipPolicy = await server().services.policies.create({ name: 'Per server IP', productIds: [product], maxMachines: 2, machineIdentity: 'ip' }, 'test');
    const ipLicense = await server().services.licenses.create({ policyId: ipPolicy.id, owner: 'mallory' }, 'test');
    await seed(ipLicense.id, '192.0.2.71', 'ip-box');
    await refused(ipLicense.id, { machineId: String((await server().services.machines.list(ipLicense.id)).machines[0]!.id), days: '30' }, 'This license gets no license files: its machines are identified by IP address');

    const disabled = await server().services.licenses.create({ productIds: [product], owner: 'mallory' }, 'test');
    await server().services.licenses.setDisabled([disabled.id], true, 'test');
    await refused(disabled.id, { days: '30' }, 'This license is disabled by staff: it gets no license file until it is active again.');
    // Staff may still issue one (as through the API and the CLI).
    await staff.get(`/staff/licenses/${disabled.id}`);
    const staffFile = await staff.post(`/staff/licenses/${disabled.id}/file`, { days: '1' });
    expect(staffFile.status).toBe(200);
    expect(staffFile.text).toContain('BEGIN KEYWARD LICENSE FILE');

    expect((await audit(own.id, 'license.file_issued')).length).toBe(before);
    expect(await audit(ipLicense.id, 'license.file_issued')).toEqual([]);
    expect((await audit(disabled.id, 'license.file_issued')).map((e) => e.actor)).toEqual(['user:sec-staff']);
    expect(await fileOf(own.machineId)).toBeNull();
  });

  it('refuses bad usage changes with the reason and changes nothing', async () => {
    await staff.get(`/staff/licenses/${own.id}`);
    const cases: [Record<string, string>, string][] = [
      [{ change: 'add', amount: '0' }, 'Usage not changed: the amount must be a whole number from 1 to 1,000,000.'],
      [{ change: 'add', amount: '1000001' }, 'Usage not changed: the amount must be a whole number from 1 to 1,000,000.'],
      [{ change: 'remove', amount: 'a few' }, 'Usage not changed: the amount must be a whole number from 1 to 1,000,000.'],
      [{ change: 'add', amount: '101' }, `Usage not changed: license ${own.id} would pass its usage limit (0 of 100 used).`],
      [{ change: 'remove', amount: '1' }, 'Usage not changed: the usage counter cannot go below 0 (it is 0).'],
      [{ change: 'double', amount: '1' }, 'Usage not changed: choose Add or Remove.'],
    ];
    for (const [fields, message] of cases) {
      const res = await staff.post(`/staff/licenses/${own.id}/usage`, fields);
      expect(res.status, message).toBe(303);
      expect(pageText((await staff.follow(res)).text), message).toContain(message);
    }
    // Reset asks first.
    const ask = await staff.post(`/staff/licenses/${own.id}/usage/reset`);
    expect(pageText(ask.text)).toContain(`Reset the usage of license #${own.id}?`);
    expect((await server().services.usage.get(own.id)).uses).toBe(0);
    expect(await audit(own.id, 'license.usage_')).toEqual([]);
    expect((await staff.post('/staff/licenses/999999/usage', { change: 'add', amount: '1' })).status).toBe(404);
  });

  it('prints typed codes escaped: in the field, beside it and in the message', async () => {
    // A refused form shows what was typed, escaped: in the field, beside it, and in the message.
    await staff.get(`/staff/licenses/${own.id}`);
    const typed = '<b>x</b>,"><i>y</i>';
    const res = await staff.post(`/staff/licenses/${own.id}`, { productIds: String(product), policyId: String(policyId), owner: 'mallory', active: '1', entitlements: typed, maxUses: '' });
    expect(res.status).toBe(400);
    expect(res.text).not.toContain('<b>x</b>');
    expect(res.text).not.toContain('<i>y</i>');
    expect(res.text).toContain('value="&lt;b&gt;x&lt;/b&gt;,&quot;&gt;&lt;i&gt;y&lt;/i&gt;"');
    expect(res.text).toContain('<p class="field-error" id="entitlements-error">&quot;&lt;b&gt;x&lt;/b&gt;&quot; must be a lowercase code');
    expect((await server().services.licenses.show(own.id)).entitlements).toEqual([]);
    // Codes the service accepts can hold only [a-z0-9_.:-]; shown as they are, from the policy and the license.
    await server().services.licenses.update(own.id, { entitlements: ['a.b:c-d_e'] }, 'test');
    const page = pageText((await mallory.get(`/licenses/${own.id}`)).text);
    expect(page).toContain('pro from the policy a.b:c-d_e');
  });
});
