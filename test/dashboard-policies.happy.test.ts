import { beforeAll, expect, it } from 'vitest';
import { makeUser, signedIn } from './helpers/dashboard.js';
import { LICENSE_KEY } from './helpers/patterns.js';
import { eachDialect } from './helpers/suite.js';
import { pageText, type WebClient } from './helpers/web-client.js';

const DAY_MS = 86_400_000;

/** Every field of the policy form, as a browser sends it. */
const proForm = {
  name: 'Pro — 3 servers, 1 year',
  productIds: ['71', '72'],
  durationDays: '365',
  expiryBasis: 'issued',
  maxMachines: '3',
  machineIdentity: 'fingerprint',
  autoActivate: '1',
  heartbeatSeconds: '600',
  deactivationsPerDay: '2',
  entitlements: 'pro, export',
  maxUses: '',
};

eachDialect('dashboard: staff manage policies and issue licenses from them', (server) => {
  let staff: WebClient;
  beforeAll(async () => {
    staff = await signedIn(server(), 'pia-staff', 'staff');
    await makeUser(server(), 'paula');
    for (const id of [71, 72, 73]) await server().services.products.create({ id, name: `Plan product ${id}` }, 'test');
  });

  it('creates a policy with every field, lists it, and edits it', async () => {
    const list = await staff.get('/staff/policies');
    expect(list.status).toBe(200);
    expect(list.text).toContain('href="/staff/policies" aria-current="page">Policies</a>');
    expect(pageText(list.text)).toContain('No policies yet.');
    const form = await staff.get('/staff/policies/new');
    expect(form.text).toContain('name="deactivationsPerDay"');
    expect(form.text).toMatch(/name="autoActivate" value="1" checked/);

    const created = await staff.post('/staff/policies', proForm);
    expect(created.status).toBe(303);
    const id = Number(/\/staff\/policies\/(\d+)$/.exec(created.location!)![1]);
    expect(pageText((await staff.follow(created)).text)).toContain('Policy "Pro — 3 servers, 1 year" created.');
    expect(await server().services.policies.get(id)).toMatchObject({
      name: 'Pro — 3 servers, 1 year',
      productIds: [71, 72],
      durationDays: 365,
      expiryBasis: 'issued',
      maxMachines: 3,
      machineIdentity: 'fingerprint',
      autoActivate: true,
      heartbeatSeconds: 600,
      deactivationsPerDay: 2,
      entitlements: ['pro', 'export'],
      maxUses: null,
    });

    const row = pageText((await staff.get('/staff/policies')).text);
    expect(row).toContain('Pro — 3 servers, 1 year 71 · Plan product 71, 72 · Plan product 72 365 days 3 fingerprint 10 min 0');

    const edit = await staff.get(`/staff/policies/${id}`);
    expect(edit.text).toContain('value="Pro — 3 servers, 1 year"');
    expect(edit.text).toContain('value="pro, export"');
    const saved = await staff.post(`/staff/policies/${id}`, {
      ...proForm,
      name: 'Pro (IP)',
      productIds: '73',
      durationDays: '',
      expiryBasis: 'first-use',
      maxMachines: '',
      machineIdentity: 'ip',
      autoActivate: undefined,
      heartbeatSeconds: '',
      deactivationsPerDay: '0',
      entitlements: '',
      maxUses: '5000',
    });
    expect(pageText((await staff.follow(saved)).text)).toContain('Policy saved.');
    expect(await server().services.policies.get(id)).toMatchObject({
      name: 'Pro (IP)',
      productIds: [73],
      durationDays: null,
      expiryBasis: 'first-use',
      maxMachines: null,
      machineIdentity: 'ip',
      autoActivate: false,
      heartbeatSeconds: null,
      deactivationsPerDay: 0,
      entitlements: [],
      maxUses: 5000,
    });
    const listed = pageText((await staff.get('/staff/policies')).text);
    expect(listed).toContain('Pro (IP) 73 · Plan product 73 perpetual not tracked ip none 0');
  });

  it('shows each bad field next to the form with the limit it broke, keeps what was typed, and saves nothing', async () => {
    const before = (await server().services.policies.list()).length;
    await staff.get('/staff/policies/new');
    // [what changes, the field, the message; beside the field, when it says otherwise]
    const cases: [Record<string, string | string[] | undefined>, string, string, string?][] = [
      [{ name: '' }, 'name', 'name must not be empty'],
      [{ productIds: undefined }, 'productIds', 'productIds needs at least 1 entry'],
      [{ productIds: '999' }, 'productIds', 'product 999 does not exist'],
      [{ durationDays: '0' }, 'durationDays', 'durationDays is at least 1'],
      [{ durationDays: '36501' }, 'durationDays', 'durationDays is at most 36500'],
      [{ durationDays: 'a year' }, 'durationDays', 'durationDays must be a whole number'],
      [{ expiryBasis: 'tomorrow' }, 'expiryBasis', 'expiryBasis must be one of issued, first-use'],
      [{ maxMachines: '0' }, 'maxMachines', 'maxMachines is at least 1'],
      [{ maxMachines: '100001' }, 'maxMachines', 'maxMachines is at most 100000'],
      [{ machineIdentity: 'mac' }, 'machineIdentity', 'machineIdentity must be one of fingerprint, ip'],
      [{ heartbeatSeconds: '59' }, 'heartbeatSeconds', 'heartbeatSeconds is at least 60'],
      [{ heartbeatSeconds: '86401' }, 'heartbeatSeconds', 'heartbeatSeconds is at most 86400'],
      [{ deactivationsPerDay: '-1' }, 'deactivationsPerDay', 'deactivationsPerDay is at least 0'],
      [{ deactivationsPerDay: '1001' }, 'deactivationsPerDay', 'deactivationsPerDay is at most 1000'],
      [{ entitlements: 'pro, Not Valid' }, 'entitlements', 'entitlements[1] must be a lowercase code', '&quot;Not&quot; must be a lowercase code'],
      [{ entitlements: Array.from({ length: 101 }, (_, i) => `f${i}`).join(',') }, 'entitlements', 'entitlements holds at most 100 entries'],
      [{ maxUses: '0' }, 'maxUses', 'maxUses is at least 1'],
      [{ maxUses: '9007199254740993' }, 'maxUses', 'maxUses is at most 9007199254740991'],
    ];
    for (const [change, field, message, beside = message] of cases) {
      const res = await staff.post('/staff/policies', { ...proForm, name: 'Kept name', ...change });
      expect(res.status, message).toBe(400);
      const html = res.text;
      expect(html, message).toContain(`<p class="field-error" id="${field}-error">${beside}`);
      expect(html, message).toContain(`aria-invalid="true" aria-errormessage="${field}-error"`);
      expect(pageText(html), message).toContain(`Not saved: ${message}`);
      // What was typed is shown again.
      if (!('name' in change)) expect(html).toContain('value="Kept name"');
      if (!('durationDays' in change)) expect(html).toContain('name="durationDays" type="number" inputmode="numeric" min="1" max="36500" value="365"');
    }
    expect((await server().services.policies.list()).length).toBe(before);

    // The edit form answers the same way and leaves the policy as it was.
    const { id } = await server().services.policies.create({ name: 'Edit me', productIds: [71] }, 'test');
    await staff.get(`/staff/policies/${id}`);
    const res = await staff.post(`/staff/policies/${id}`, { ...proForm, name: 'Typed but refused', heartbeatSeconds: '5' });
    expect(res.status).toBe(400);
    expect(res.text).toContain('heartbeatSeconds is at least 60');
    expect(res.text).toContain('value="Typed but refused"');
    expect((await server().services.policies.get(id)).name).toBe('Edit me');
  });

  it('issues a license from a policy: its products and duration unless the form says otherwise, and its own machine limit', async () => {
    const policy = await server().services.policies.create({ name: 'Yearly', productIds: [71, 72], durationDays: 30, maxMachines: 2 }, 'test');
    const form = await staff.get(`/staff/licenses/new?policy=${policy.id}&owner=paula`);
    expect(form.text).toContain(`<option value="${policy.id}" selected>Yearly</option>`);

    const res = await staff.post('/staff/licenses', { policyId: String(policy.id), owner: 'paula', maxMachines: '', expiresAt: '' });
    expect(res.status).toBe(200);
    expect(/<code class="key" id="new-key" data-key>([^<]+)<\/code>/.exec(res.text)![1]).toMatch(LICENSE_KEY);
    const id = Number(/License #(\d+) created/.exec(pageText(res.text))![1]);
    const license = await server().services.licenses.show(id);
    expect(license).toMatchObject({ productIds: [71, 72], policyId: policy.id, maxMachines: null, owner: 'paula' });
    expect(Date.parse(license.expiresAt!) - Date.now()).toBeGreaterThan(29 * DAY_MS);
    expect(Date.parse(license.expiresAt!) - Date.now()).toBeLessThanOrEqual(30 * DAY_MS);

    // Ticked products, a typed expiry and a machine limit win over the policy's.
    const own = await staff.post('/staff/licenses', { policyId: String(policy.id), productIds: '73', expiresAt: '2040-01-01', maxMachines: '7' });
    const ownId = Number(/License #(\d+) created/.exec(pageText(own.text))![1]);
    expect(await server().services.licenses.show(ownId)).toMatchObject({ productIds: [73], policyId: policy.id, maxMachines: 7, expiresAt: '2040-01-01T00:00:00.000Z' });

    // The license page links its policy and shows both settings.
    const page = await staff.get(`/staff/licenses/${ownId}`);
    expect(page.text).toContain(`<option value="${policy.id}" selected>Yearly</option>`);
    expect(page.text).toContain(`Follows <a href="/staff/policies/${policy.id}">Yearly</a>.`);
    expect(page.text).toMatch(/name="maxMachines"[^>]*value="7"/);
    expect(pageText(page.text)).toContain('0 of 7 in use');

    // Without a policy and without products it is refused, naming the field; a bad limit too.
    const none = await staff.post('/staff/licenses', { policyId: '', maxMachines: '' });
    expect(pageText((await staff.follow(none)).text)).toContain('productIds needs at least 1 entry');
    const badLimit = await staff.post('/staff/licenses', { policyId: String(policy.id), maxMachines: 'lots' });
    expect(pageText((await staff.follow(badLimit)).text)).toContain('maxMachines must be a whole number');
    const zero = await staff.post('/staff/licenses', { policyId: String(policy.id), maxMachines: '0' });
    expect(pageText((await staff.follow(zero)).text)).toContain('maxMachines is at least 1');
    const missing = await staff.post('/staff/licenses', { policyId: '99999', productIds: '71' });
    expect(pageText((await staff.follow(missing)).text)).toContain('policy 99999 does not exist');
  });

  it('changes a license’s policy and machine limit from its page; saving other fields keeps a first-use clock', async () => {
    const firstUse = await server().services.policies.create({ name: 'Starts on first use', productIds: [71], durationDays: 10, expiryBasis: 'first-use' }, 'test');
    const other = await server().services.policies.create({ name: 'Other plan', productIds: [72], maxMachines: 4 }, 'test');
    const { id } = await server().services.licenses.create({ policyId: firstUse.id }, 'test');
    const page = await staff.get(`/staff/licenses/${id}`);
    expect(pageText(page.text)).toContain('then it lasts 10 days');
    expect(pageText((await staff.get('/staff/licenses?product=71')).text)).toContain('10 days after first use');
    const form = {
      productIds: '71',
      owner: '',
      active: '1',
      ips: '',
      expiresAt: '',
      note: 'edited',
      policyId: String(firstUse.id),
      maxMachines: '',
    };
    await staff.post(`/staff/licenses/${id}`, form);
    expect(await server().services.licenses.show(id)).toMatchObject({ note: 'edited', firstUseDays: 10, expiresAt: null, policyId: firstUse.id });

    const moved = await staff.post(`/staff/licenses/${id}`, { ...form, policyId: String(other.id), maxMachines: '2' });
    expect(pageText((await staff.follow(moved)).text)).toContain('License saved.');
    // Attaching a policy later never moves the products the license was issued with.
    expect(await server().services.licenses.show(id)).toMatchObject({ policyId: other.id, maxMachines: 2, productIds: [71] });
    expect(pageText((await staff.get(`/staff/licenses/${id}`)).text)).toContain('0 of 2 in use');

    await staff.post(`/staff/licenses/${id}`, { ...form, policyId: '', maxMachines: '' });
    expect(await server().services.licenses.show(id)).toMatchObject({ policyId: null, maxMachines: null });
    expect(pageText((await staff.get(`/staff/licenses/${id}`)).text)).toContain('This license does not track machines.');
  });

  it('deletes a policy only after confirmation, and refuses while a license uses it', async () => {
    const policy = await server().services.policies.create({ name: 'Short-lived', productIds: [71] }, 'test');
    const license = await server().services.licenses.create({ policyId: policy.id }, 'test');
    await staff.get(`/staff/policies/${policy.id}`);
    expect(pageText((await staff.get(`/staff/policies/${policy.id}`)).text)).toContain('1 license uses this policy.');
    const ask = await staff.post(`/staff/policies/${policy.id}/delete`);
    expect(ask.status).toBe(200);
    expect(pageText(ask.text)).toContain('Delete policy "Short-lived"?');
    const refused = await staff.post(`/staff/policies/${policy.id}/delete`, { confirm: 'yes' });
    expect(refused.location).toBe(`/staff/policies/${policy.id}`);
    expect(pageText((await staff.follow(refused)).text)).toContain(`policy ${policy.id} is used by 1 license(s)`);
    expect((await server().services.policies.get(policy.id)).name).toBe('Short-lived');

    await server().services.licenses.update(license.id, { policyId: null }, 'test');
    const deleted = await staff.post(`/staff/policies/${policy.id}/delete`, { confirm: 'yes' });
    expect(deleted.location).toBe('/staff/policies');
    expect(pageText((await staff.follow(deleted)).text)).toContain('Policy "Short-lived" deleted.');
    await expect(server().services.policies.get(policy.id)).rejects.toThrow('does not exist');
    expect((await staff.get(`/staff/policies/${policy.id}`)).status).toBe(404);
    const audit = pageText((await staff.get('/staff/audit?action=policy.deleted')).text);
    expect(audit).toContain('user:pia-staff');
  });
});
