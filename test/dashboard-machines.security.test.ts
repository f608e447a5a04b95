import { beforeAll, expect, it } from 'vitest';
import { securityCast, type LicenseWithMachine } from './helpers/dashboard.js';
import { eachDialect } from './helpers/suite.js';
import { pageText, type WebClient } from './helpers/web-client.js';

eachDialect('dashboard authorisation: machines and policies', (server) => {
  let mallory: WebClient;
  let victimClient: WebClient;
  let staff: WebClient;
  let policyId: number;
  let victim: LicenseWithMachine;
  let own: LicenseWithMachine;

  const machineCount = async (licenseId: number) => (await server().services.machines.list(licenseId)).machines.length;

  beforeAll(async () => {
    const product = (await server().services.products.create({ name: 'Secure product' }, 'test')).id;
    policyId = (await server().services.policies.create({ name: 'Secure plan', productIds: [product], maxMachines: 5, deactivationsPerDay: 10 }, 'test')).id;
    ({ mallory, victimClient, staff, victim, own } = await securityCast(server(), policyId, {
      victim: ['victim-fingerprint-secret', 'victim-machine'],
      own: ['mallory-fingerprint', 'mallory-machine'],
    }));
  });

  it('never lets a customer see or free a machine of another customer’s license: 404 like a missing one', async () => {
    const page = await mallory.get(`/licenses/${victim.id}`);
    expect(page.status).toBe(404);
    expect(page.text).not.toContain('victim-machine');
    expect(page.text).not.toContain('victim-fingerprint-secret');
    expect(pageText((await mallory.get(`/licenses/${own.id}`)).text)).not.toContain('victim-machine');

    await mallory.get(`/licenses/${own.id}`);
    const attempts = [
      `/licenses/${victim.id}/machines/${victim.machineId}/free`,
      // Their own license in the URL, the victim's machine id: still not theirs.
      `/licenses/${own.id}/machines/${victim.machineId}/free`,
      `/licenses/${own.id}/machines/999999/free`,
      `/licenses/${own.id}/machines/0/free`,
      `/licenses/${own.id}/machines/-1/free`,
      `/licenses/${own.id}/machines/abc/free`,
      `/licenses/${own.id}/machines/1e3/free`,
      `/licenses/999999/machines/${victim.machineId}/free`,
    ];
    for (const path of attempts) {
      const res = await mallory.post(path, { confirm: 'yes' });
      expect(res.status, path).toBe(404);
      expect(res.text).not.toContain('victim-machine');
    }
    expect(await machineCount(victim.id)).toBe(1);
    expect(await server().services.machines.deactivationsLeft(victim.id, 'owner')).toBe(10);
    expect(await server().services.machines.deactivationsLeft(own.id, 'owner')).toBe(10);
  });

  it('keeps customers out of the policy pages and the staff machine actions (403), changing nothing', async () => {
    for (const path of ['/staff/policies', '/staff/policies/new', `/staff/policies/${policyId}`]) {
      const res = await mallory.get(path);
      expect(res.status, path).toBe(403);
      expect(res.text).not.toContain('Secure plan');
    }
    await mallory.get('/licenses');
    const posts: [string, Record<string, string>][] = [
      ['/staff/policies', { name: 'Evil plan', productIds: '1' }],
      [`/staff/policies/${policyId}`, { name: 'Renamed', productIds: '1', deactivationsPerDay: '1000' }],
      [`/staff/policies/${policyId}/delete`, { confirm: 'yes' }],
      [`/staff/licenses/${victim.id}/machines/${victim.machineId}/deactivate`, { confirm: 'yes' }],
      [`/staff/licenses/${own.id}/machines/${own.machineId}/deactivate`, { confirm: 'yes' }],
      [`/staff/licenses/${own.id}`, { productIds: '1', policyId: '', maxMachines: '100000' }],
    ];
    for (const [path, fields] of posts) {
      const res = await mallory.post(path, fields);
      expect(res.status, path).toBe(403);
    }
    expect(await server().services.policies.get(policyId)).toMatchObject({ name: 'Secure plan', deactivationsPerDay: 10 });
    expect((await server().services.policies.list()).map((p) => p.name)).not.toContain('Evil plan');
    expect(await machineCount(victim.id)).toBe(1);
    expect(await machineCount(own.id)).toBe(1);
    expect(await server().services.licenses.show(own.id)).toMatchObject({ policyId, maxMachines: null });
  });

  it('refuses every machine and policy POST without a CSRF token, or with another session’s (403), changing nothing', async () => {
    await victimClient.get(`/licenses/${victim.id}`);
    const victimToken = victimClient.csrf;
    const customerPosts: [WebClient, string][] = [[victimClient, `/licenses/${victim.id}/machines/${victim.machineId}/free`]];
    await staff.get('/staff/policies');
    const staffPosts: [WebClient, string, Record<string, string>][] = [
      [staff, '/staff/policies', { name: 'No token', productIds: '1' }],
      [staff, `/staff/policies/${policyId}`, { name: 'No token', productIds: '1' }],
      [staff, `/staff/policies/${policyId}/delete`, { confirm: 'yes' }],
      [staff, `/staff/licenses/${victim.id}/machines/${victim.machineId}/deactivate`, { confirm: 'yes' }],
    ];
    for (const [client, path] of customerPosts) {
      for (const csrf of [false as const, 'forged-token']) {
        const res = await client.post(path, { confirm: 'yes' }, { csrf });
        expect(res.status, `${path} ${String(csrf)}`).toBe(403);
        expect(pageText(res.text)).toContain('Form expired');
      }
    }
    for (const [client, path, fields] of staffPosts) {
      for (const csrf of [false as const, victimToken]) {
        const res = await client.post(path, fields, { csrf });
        expect(res.status, `${path} ${csrf ? 'other session' : 'none'}`).toBe(403);
      }
    }
    expect(await machineCount(victim.id)).toBe(1);
    expect(await server().services.policies.get(policyId)).toMatchObject({ name: 'Secure plan' });
    expect(await server().services.machines.deactivationsLeft(victim.id, 'owner')).toBe(10);
  });

  it('prints what clients report about their machines escaped, on the owner’s and the staff’s pages', async () => {
    const hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>';
    const outcome = await server().services.machines.activate(own.id, 'fp-"><b>x</b>', { ip: '192.0.2.66', name: hostile, platform: hostile, hostname: hostile }, 'explicit');
    expect(outcome?.status).toBe('ACTIVATED');
    for (const [client, path] of [
      [mallory, `/licenses/${own.id}`],
      [staff, `/staff/licenses/${own.id}`],
    ] as const) {
      const page = await client.get(path);
      expect(page.status).toBe(200);
      // The license file section lists the machines too.
      expect(page.text).toMatch(/<option value="\d+">&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
      expect(page.text).not.toContain('<script>alert(1)</script>');
      expect(page.text).not.toContain('<img src=x');
      expect(page.text).not.toContain('<b>x</b>');
      expect(page.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    }
    // The confirmation page names the machine escaped too.
    await mallory.get(`/licenses/${own.id}`);
    const ask = await mallory.post(`/licenses/${own.id}/machines/${outcome!.machine!.id}/free`);
    expect(ask.status).toBe(200);
    expect(ask.text).not.toContain('<script>alert(1)</script>');
  });

  it('shows fingerprints to staff only', async () => {
    expect((await staff.get(`/staff/licenses/${victim.id}`)).text).toContain('victim-fingerprint-secret');
    expect((await victimClient.get(`/licenses/${victim.id}`)).text).not.toContain('victim-fingerprint-secret');
  });
});
