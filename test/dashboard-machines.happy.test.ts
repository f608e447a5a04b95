import { beforeAll, expect, it } from 'vitest';
import { signedIn } from './helpers/dashboard.js';
import { eachDialect } from './helpers/suite.js';
import { pageText, type WebClient } from './helpers/web-client.js';

const MINUTE = 60_000;

eachDialect('dashboard: a license’s machines, for staff and for its owner', (server) => {
  let staff: WebClient;
  let molly: WebClient;
  let product: number;

  /** Seeds a machine the way a client's activation makes one; `ago` puts its last sighting in the past. */
  const activate = async (licenseId: number, fingerprint: string, extra: { name?: string; platform?: string; hostname?: string; ip?: string } = {}, ago = 0) => {
    const outcome = await server().services.machines.activate(licenseId, fingerprint, { ip: '198.51.100.7', ...extra }, 'explicit', Date.now() - ago);
    expect(outcome?.status).toBe('ACTIVATED');
    return outcome!.machine!;
  };
  const machineIds = async (licenseId: number) => (await server().services.machines.list(licenseId)).machines.map((m) => m.id);

  beforeAll(async () => {
    staff = await signedIn(server(), 'mo-staff', 'staff');
    molly = await signedIn(server(), 'molly', 'customer');
    product = (await server().services.products.create({ name: 'Machines product' }, 'test')).id;
  });

  it('lists a license’s machines to staff: name, platform, hostname, IP, first and last seen, alive or dead, fingerprint', async () => {
    const policy = await server().services.policies.create({ name: 'Three with heartbeat', productIds: [product], maxMachines: 3, heartbeatSeconds: 60 }, 'test');
    const { id } = await server().services.licenses.create({ policyId: policy.id, owner: 'molly' }, 'test');
    await activate(id, 'fp-alpha-0001', { name: 'Alpha server', platform: 'linux', hostname: 'alpha.example', ip: '198.51.100.11' });
    await activate(id, 'fp-beta-0002', { name: 'Beta box', platform: 'windows', hostname: 'beta.example', ip: '198.51.100.12' }, 10 * MINUTE);

    const page = await staff.get(`/staff/licenses/${id}`);
    expect(page.status).toBe(200);
    const text = pageText(page.text);
    expect(text).toContain('Machines 1 of 3 in use');
    expect(text).toMatch(/Alpha server linux · alpha\.example 198\.51\.100\.11 \d{4}-\d\d-\d\d \d\d:\d\d UTC \d{4}-\d\d-\d\d \d\d:\d\d UTC alive heartbeat by [^ ]+ [^ ]+ UTC fp-alpha-0001 Deactivate/);
    expect(text).toMatch(/Beta box windows · beta\.example 198\.51\.100\.12 .* dead fp-beta-0002 Deactivate/);
    expect(page.text).toContain(`action="/staff/licenses/${id}/machines/`);
    expect(page.text).toContain(`Follows <a href="/staff/policies/${policy.id}">Three with heartbeat</a>.`);
  });

  it('lets staff deactivate any machine after confirmation, with no daily limit', async () => {
    const policy = await server().services.policies.create({ name: 'No frees', productIds: [product], maxMachines: 5, deactivationsPerDay: 0 }, 'test');
    const { id } = await server().services.licenses.create({ policyId: policy.id }, 'test');
    const machines = [await activate(id, 'staff-fp-1', { name: 'One' }), await activate(id, 'staff-fp-2', { name: 'Two' }), await activate(id, 'staff-fp-3')];
    await staff.get(`/staff/licenses/${id}`);

    const ask = await staff.post(`/staff/licenses/${id}/machines/${machines[0]!.id}/deactivate`);
    expect(ask.status).toBe(200);
    expect(pageText(ask.text)).toContain(`Deactivate "One" on license #${id}?`);
    expect(await machineIds(id)).toHaveLength(3);

    for (const [i, m] of machines.entries()) {
      const res = await staff.post(`/staff/licenses/${id}/machines/${m.id}/deactivate`, { confirm: 'yes' });
      expect(res.status).toBe(303);
      expect(res.location).toBe(`/staff/licenses/${id}`);
      const name = ['One', 'Two', `Machine #${m.id}`][i];
      expect(pageText((await staff.follow(res)).text)).toContain(`"${name}" deactivated: its slot is free.`);
    }
    expect(await machineIds(id)).toEqual([]);
    expect(pageText((await staff.get(`/staff/licenses/${id}`)).text)).toContain('No machines yet.');
    const audit = pageText((await staff.get(`/staff/audit?action=machine.deactivated&targetType=license&targetId=${id}`)).text);
    expect(audit).toContain('user:mo-staff');

    // A machine freed meanwhile (or never on this license) is not found.
    expect((await staff.post(`/staff/licenses/${id}/machines/${machines[0]!.id}/deactivate`, { confirm: 'yes' })).status).toBe(404);
  });

  it('shows the owner their machines and how many frees are left; frees within the limit; refuses past it and changes nothing', async () => {
    const policy = await server().services.policies.create({ name: 'Two frees a day', productIds: [product], maxMachines: 5, deactivationsPerDay: 2 }, 'test');
    const { id } = await server().services.licenses.create({ policyId: policy.id, owner: 'molly' }, 'test');
    const a = await activate(id, 'own-fp-a', { name: 'Office PC', platform: 'windows', ip: '203.0.113.21' });
    const b = await activate(id, 'own-fp-b', { name: 'Laptop', platform: 'macos', ip: '203.0.113.22' });
    const c = await activate(id, 'own-fp-c', { name: 'Server', platform: 'linux', ip: '203.0.113.23' });

    const page = await molly.get(`/licenses/${id}`);
    const text = pageText(page.text);
    expect(text).toContain('Plan Two frees a day');
    expect(text).toContain('Machines 3 of 5 in use');
    expect(text).toContain('2 of 2 frees left today');
    expect(text).toMatch(/Office PC alive Platform windows IP 203\.0\.113\.21 First seen \d{4}-\d\d-\d\d \d\d:\d\d UTC Last seen \d{4}-\d\d-\d\d \d\d:\d\d UTC Free this machine/);
    expect(page.text).toContain(`action="/licenses/${id}/machines/${a.id}/free"`);

    const ask = await molly.post(`/licenses/${id}/machines/${a.id}/free`);
    expect(pageText(ask.text)).toContain('Free "Office PC"?');
    expect(await machineIds(id)).toHaveLength(3);

    const first = await molly.post(`/licenses/${id}/machines/${a.id}/free`, { confirm: 'yes' });
    expect(first.location).toBe(`/licenses/${id}`);
    const after = pageText((await molly.follow(first)).text);
    expect(after).toContain('"Office PC" is freed: its slot is available.');
    expect(after).toContain('1 of 2 frees left today');
    expect(after).toContain('Machines 2 of 5 in use');

    await molly.post(`/licenses/${id}/machines/${b.id}/free`, { confirm: 'yes' });
    const spent = await molly.get(`/licenses/${id}`);
    expect(pageText(spent.text)).toContain('0 of 2 frees left today');
    expect(spent.text).toMatch(new RegExp(`action="/licenses/${id}/machines/${c.id}/free"[^>]*>\\s*<input[^>]*>\\s*<button type="submit" class="btn" disabled`));

    // Past the limit a POST anyway (confirmed or not) is refused with the clear message and frees nothing.
    for (const fields of [{ confirm: 'yes' }, {}]) {
      const refused = await molly.post(`/licenses/${id}/machines/${c.id}/free`, fields);
      expect(refused.status).toBe(303);
      expect(pageText((await molly.follow(refused)).text)).toContain('DEACTIVATION LIMIT: you have freed as many machines as this license allows in 24 hours. Nothing was changed');
    }
    expect(await machineIds(id)).toEqual([c.id]);
    expect(await server().services.machines.deactivationsLeft(id, 'owner')).toBe(0);
    // The key holder's allowance is separate.
    expect(await server().services.machines.deactivationsLeft(id, 'key')).toBe(2);
    const audit = await server().services.logs.audit({ targetType: 'license', targetId: String(id), limit: 20 });
    expect(audit.filter((e) => e.action === 'machine.deactivated').map((e) => e.actor)).toEqual(['user:molly', 'user:molly']);
  });

  it('lets the owner remove a machine that stopped checking in, even with no frees left (it holds no slot)', async () => {
    const policy = await server().services.policies.create({ name: 'Heartbeat, no frees', productIds: [product], maxMachines: 2, heartbeatSeconds: 60, deactivationsPerDay: 0 }, 'test');
    const { id } = await server().services.licenses.create({ policyId: policy.id, owner: 'molly' }, 'test');
    const dead = await activate(id, 'gone-fp', { name: 'Old server' }, 30 * MINUTE);
    const page = pageText((await molly.get(`/licenses/${id}`)).text);
    expect(page).toContain('Old server dead');
    expect(page).toContain('0 of 0 frees left today');
    await molly.get(`/licenses/${id}`);
    const res = await molly.post(`/licenses/${id}/machines/${dead.id}/free`, { confirm: 'yes' });
    expect(pageText((await molly.follow(res)).text)).toContain('"Old server" had stopped checking in and held no slot; it is removed (no free used).');
    expect(await machineIds(id)).toEqual([]);
  });

  it('does not limit staff on a license they own themselves, and hides the section where machines are not tracked', async () => {
    const policy = await server().services.policies.create({ name: 'Staff own', productIds: [product], maxMachines: 2, deactivationsPerDay: 0 }, 'test');
    const { id } = await server().services.licenses.create({ policyId: policy.id, owner: 'mo-staff' }, 'test');
    const m = await activate(id, 'staff-own-fp', { name: 'Staff box' });
    const page = pageText((await staff.get(`/licenses/${id}`)).text);
    expect(page).toContain('Staff box');
    expect(page).not.toContain('frees left today');
    const res = await staff.post(`/licenses/${id}/machines/${m.id}/free`, { confirm: 'yes' });
    expect(pageText((await staff.follow(res)).text)).toContain('"Staff box" is freed');
    expect(await machineIds(id)).toEqual([]);

    const plain = await server().services.licenses.create({ productIds: [product], owner: 'molly' }, 'test');
    const plainPage = await molly.get(`/licenses/${plain.id}`);
    expect(plainPage.text).not.toContain('id="machines"');
  });
});
