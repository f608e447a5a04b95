import { beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '../src/licensing/token-service.js';
import { apiClient, errorOf } from './helpers/api.js';
import { ISO_TIME } from './helpers/patterns.js';
import { eachDialect } from './helpers/suite.js';

const DAY_MS = 86_400_000;
const POLICY_FIELDS = [
  'id',
  'name',
  'productIds',
  'durationDays',
  'expiryBasis',
  'maxMachines',
  'machineIdentity',
  'autoActivate',
  'heartbeatSeconds',
  'deactivationsPerDay',
  'entitlements',
  'maxUses',
  'createdAt',
  'updatedAt',
];
const MACHINE_FIELDS = ['id', 'licenseId', 'fingerprint', 'name', 'platform', 'hostname', 'ip', 'createdAt', 'lastSeenAt', 'alive', 'deadAt', 'fileExpiresAt', 'deactivatedAt'];

/** Policies and a license's machines through /api/v1 (docs/api.md#policies, #machines), on both dialects. */
eachDialect('management API: policies and machines', (server) => {
  let token: string;
  const api = apiClient(server, () => token);

  /** Activates a machine the way a client's activate call does. */
  const activate = async (licenseId: number, fingerprint: string) => {
    const outcome = await server().services.machines.activate(licenseId, fingerprint, { ip: '203.0.113.9', name: `box ${fingerprint}` }, 'explicit');
    expect(outcome?.status).toBe('ACTIVATED');
    return outcome!.machine!;
  };

  /** A 400 naming `field`; returns the error. */
  const refused = async (method: string, path: string, body: unknown, field: string) => {
    const res = await api.call(method, path, { body });
    expect(res.status, `${JSON.stringify(body)}: ${res.text}`).toBe(400);
    const error = errorOf(res);
    expect(error.code).toBe('invalid_input');
    expect(error.details.map((d: { field: string }) => d.field)).toContain(field);
    return error;
  };

  beforeAll(async () => {
    token = await api.token('all', 'pricing-bot');
    for (const [id, name] of [
      [8, 'Script'],
      [16, 'Addon'],
      [17, 'Extra'],
    ] as const) {
      await server().services.products.create({ id, name }, 'test');
    }
  });

  describe('policies', () => {
    let pro: any;

    it('creates one from a name and products, with the documented defaults', async () => {
      const res = await api.call('POST', '/policies', { body: { name: 'Basic', productIds: [8] } });
      expect(res.status, res.text).toBe(201);
      expect(Object.keys(res.json).sort()).toEqual([...POLICY_FIELDS].sort());
      expect(res.json).toMatchObject({
        name: 'Basic',
        productIds: [8],
        durationDays: null,
        expiryBasis: 'issued',
        maxMachines: null,
        machineIdentity: 'fingerprint',
        autoActivate: true,
        heartbeatSeconds: null,
        deactivationsPerDay: 3,
        entitlements: [],
        maxUses: null,
      });
      expect(res.json.createdAt).toMatch(ISO_TIME);
    });

    it('creates one with every field, shows it, and lists policies a page at a time', async () => {
      const body = {
        name: 'Pro — 3 servers, 1 year',
        productIds: [16, 8],
        durationDays: 365,
        expiryBasis: 'issued',
        maxMachines: 3,
        machineIdentity: 'ip',
        autoActivate: false,
        heartbeatSeconds: 600,
        deactivationsPerDay: 1,
        entitlements: ['pro', 'export', 'pro'],
        maxUses: 1000,
      };
      const res = await api.call('POST', '/policies', { body });
      expect(res.status, res.text).toBe(201);
      expect(res.json).toMatchObject({ ...body, entitlements: ['pro', 'export'] });
      pro = res.json;

      const shown = await api.call('GET', `/policies/${pro.id}`);
      expect(shown.status).toBe(200);
      expect(shown.json).toEqual(pro);

      const first = await api.call('GET', '/policies?limit=1');
      expect(first.status).toBe(200);
      expect(first.json.items).toHaveLength(1);
      expect(first.json.nextCursor).toEqual(expect.any(String));
      const second = await api.call('GET', `/policies?limit=1&cursor=${first.json.nextCursor}`);
      expect(second.json.items.map((p: any) => p.id)).toEqual([pro.id]);
      const all = await api.call('GET', '/policies');
      expect(all.json.nextCursor).toBeNull();
      expect(all.json.items.map((p: any) => p.name)).toEqual(['Basic', pro.name]);
      // A cursor of another list is refused.
      const products = await api.call('GET', '/products?limit=1');
      expect((await api.call('GET', `/policies?cursor=${products.json.nextCursor}`)).status).toBe(400);
    });

    it('changes only the fields sent; null clears a nullable one', async () => {
      const res = await api.call('PATCH', `/policies/${pro.id}`, { body: { name: 'Pro', durationDays: null, heartbeatSeconds: null, entitlements: ['pro'] } });
      expect(res.status, res.text).toBe(200);
      expect(res.json).toEqual({ ...pro, name: 'Pro', durationDays: null, heartbeatSeconds: null, entitlements: ['pro'], updatedAt: expect.stringMatching(ISO_TIME) });
      const moved = await api.call('PATCH', `/policies/${pro.id}`, { body: { productIds: [17], maxMachines: 5, machineIdentity: 'fingerprint', autoActivate: true } });
      expect(moved.json).toMatchObject({ productIds: [17], maxMachines: 5, machineIdentity: 'fingerprint', autoActivate: true, name: 'Pro' });
      pro = moved.json;
    });

    it('an Idempotency-Key makes a retried create run once', async () => {
      const headers = { 'idempotency-key': 'price-list-1' };
      const a = await api.call('POST', '/policies', { body: { name: 'Once', productIds: [8] }, headers });
      const b = await api.call('POST', '/policies', { body: { name: 'Once', productIds: [8] }, headers });
      expect(a.status).toBe(201);
      expect(b.status).toBe(201);
      expect(b.headers['idempotent-replayed']).toBe('true');
      expect(b.json).toEqual(a.json);
      expect((await api.call('GET', '/policies')).json.items.filter((p: any) => p.name === 'Once')).toHaveLength(1);
      expect((await api.call('DELETE', `/policies/${a.json.id}`)).status).toBe(204);
    });

    it('deletes a policy no license follows (204), then it is gone (404); each change is audited under the token', async () => {
      const doomed = (await api.call('POST', '/policies', { body: { name: 'Doomed', productIds: [8] } })).json;
      const res = await api.call('DELETE', `/policies/${doomed.id}`);
      expect(res.status).toBe(204);
      expect(res.text).toBe('');
      const gone = await api.call('GET', `/policies/${doomed.id}`);
      expect(gone.status).toBe(404);
      expect(errorOf(gone)).toEqual({ code: 'policy_not_found', message: `policy ${doomed.id} does not exist` });
      expect(errorOf(await api.call('PATCH', `/policies/${doomed.id}`, { body: { name: 'x' } })).code).toBe('policy_not_found');
      expect(errorOf(await api.call('DELETE', `/policies/${doomed.id}`)).code).toBe('policy_not_found');

      const audit = await api.call('GET', `/audit?targetType=policy&targetId=${doomed.id}`);
      expect(audit.json.items.map((e: any) => [e.action, e.actor])).toEqual([
        ['policy.deleted', 'token:pricing-bot'],
        ['policy.created', 'token:pricing-bot'],
      ]);
    });

    it('refuses to delete a policy a license follows (409 policy_in_use); the policy stays', async () => {
      const used = (await api.call('POST', '/policies', { body: { name: 'Used', productIds: [8] } })).json;
      const license = await api.call('POST', '/licenses', { body: { policyId: used.id } });
      expect(license.status).toBe(201);
      const res = await api.call('DELETE', `/policies/${used.id}`);
      expect(res.status).toBe(409);
      const error = errorOf(res);
      expect(error.code).toBe('policy_in_use');
      expect(error.message).toBe(`policy ${used.id} is used by 1 license(s); move them to another policy or detach it first`);
      expect((await api.call('GET', `/policies/${used.id}`)).json).toEqual(used);
      // Detached, it can go.
      expect((await api.call('PATCH', `/licenses/${license.json.id}`, { body: { policyId: null } })).json.policyId).toBeNull();
      expect((await api.call('DELETE', `/policies/${used.id}`)).status).toBe(204);
    });

    it('refuses to delete a product a policy issues (409 product_in_use, saying a policy uses it)', async () => {
      await server().services.products.create({ id: 99, name: 'Only in a policy' }, 'test');
      const policy = (await api.call('POST', '/policies', { body: { name: 'Holds 99', productIds: [99] } })).json;
      const res = await api.call('DELETE', '/products/99');
      expect(res.status).toBe(409);
      const error = errorOf(res);
      expect(error.code).toBe('product_in_use');
      expect(error.message).toBe('product 99 is issued by 1 policy(ies); change or delete them first');
      expect((await api.call('GET', '/products/99')).status).toBe(200);
      await api.call('DELETE', `/policies/${policy.id}`);
      expect((await api.call('DELETE', '/products/99')).status).toBe(204);
    });
  });

  describe('policy input errors name the field and the limit', () => {
    const base = { name: 'Bad', productIds: [8] };

    it('name: empty, blank or longer than 200 characters', async () => {
      expect((await refused('POST', '/policies', { ...base, name: '' }, 'name')).message).toBe('invalid body: name must not have fewer than 1 characters');
      expect((await refused('POST', '/policies', { ...base, name: 'x'.repeat(201) }, 'name')).message).toBe('invalid body: name must not have more than 200 characters');
      const blank = await api.call('POST', '/policies', { body: { ...base, name: '   ' } });
      expect(blank.status).toBe(400);
      expect(errorOf(blank).message).toBe('name must not be empty');
      expect((await api.call('POST', '/policies', { body: { ...base, name: 'x'.repeat(200) } })).status).toBe(201);
    });

    it('heartbeatSeconds 59 and 86401 (60 to 86400)', async () => {
      expect((await refused('POST', '/policies', { ...base, heartbeatSeconds: 59 }, 'heartbeatSeconds')).message).toBe('invalid body: heartbeatSeconds must be >= 60');
      expect((await refused('POST', '/policies', { ...base, heartbeatSeconds: 86_401 }, 'heartbeatSeconds')).message).toBe('invalid body: heartbeatSeconds must be <= 86400');
      expect((await api.call('POST', '/policies', { body: { ...base, heartbeatSeconds: 60 } })).status).toBe(201);
      expect((await api.call('POST', '/policies', { body: { ...base, heartbeatSeconds: 86_400 } })).status).toBe(201);
    });

    it('maxMachines zero or negative; deactivationsPerDay -1; durationDays 0; maxUses 0', async () => {
      for (const maxMachines of [0, -1, 100_001, 1.5]) await refused('POST', '/policies', { ...base, maxMachines }, 'maxMachines');
      expect((await refused('POST', '/policies', { ...base, maxMachines: 0 }, 'maxMachines')).message).toBe('invalid body: maxMachines must be >= 1');
      expect((await refused('POST', '/policies', { ...base, deactivationsPerDay: -1 }, 'deactivationsPerDay')).message).toBe('invalid body: deactivationsPerDay must be >= 0');
      await refused('POST', '/policies', { ...base, deactivationsPerDay: 1001 }, 'deactivationsPerDay');
      await refused('POST', '/policies', { ...base, deactivationsPerDay: null }, 'deactivationsPerDay');
      await refused('POST', '/policies', { ...base, durationDays: 0 }, 'durationDays');
      await refused('POST', '/policies', { ...base, durationDays: 36_501 }, 'durationDays');
      await refused('POST', '/policies', { ...base, maxUses: 0 }, 'maxUses');
      const bad = await refused('PATCH', '/policies/1', { maxMachines: -1 }, 'maxMachines');
      expect(bad.message).toMatch(/maxMachines/);
    });

    it('a bad entitlement code names the entry and the rule', async () => {
      const error = await refused('POST', '/policies', { ...base, entitlements: ['pro', 'Export Pro'] }, 'entitlements[1]');
      expect(error.message).toBe('invalid body: entitlements[1] must be a lowercase code of letters, digits, "_", ".", ":" and "-" (at most 64 characters)');
      await refused('POST', '/policies', { ...base, entitlements: ['a'.repeat(65)] }, 'entitlements[0]');
      await refused('POST', '/policies', { ...base, entitlements: Array.from({ length: 101 }, (_, i) => `e${i}`) }, 'entitlements');
    });

    it('products: none, an unknown one; closed words; unknown fields; an empty change', async () => {
      await refused('POST', '/policies', { ...base, productIds: [] }, 'productIds');
      await refused('POST', '/policies', { name: 'No products' }, 'productIds');
      const unknown = await api.call('POST', '/policies', { body: { ...base, productIds: [8, 4242] } });
      expect(unknown.status).toBe(404);
      expect(errorOf(unknown)).toEqual({ code: 'product_not_found', message: 'product 4242 does not exist' });
      await refused('POST', '/policies', { ...base, expiryBasis: 'later' }, 'expiryBasis');
      await refused('POST', '/policies', { ...base, machineIdentity: 'mac' }, 'machineIdentity');
      await refused('POST', '/policies', { ...base, autoActivate: 'yes' }, 'autoActivate');
      await refused('POST', '/policies', { ...base, maxMachine: 3 }, 'maxMachine');
      expect((await api.call('PATCH', '/policies/1', { body: {} })).status).toBe(400);
    });
  });

  describe('licenses issued from a policy', () => {
    let yearly: any;
    let firstUse: any;

    beforeAll(async () => {
      yearly = (await api.call('POST', '/policies', { body: { name: 'Yearly', productIds: [8, 16], durationDays: 30, maxMachines: 2 } })).json;
      firstUse = (await api.call('POST', '/policies', { body: { name: 'From first use', productIds: [17], durationDays: 7, expiryBasis: 'first-use' } })).json;
    });

    it('gets the policy products and an expiry durationDays from now; no productIds needed', async () => {
      const before = Date.now();
      const res = await api.call('POST', '/licenses', { body: { policyId: yearly.id, note: 'order 7' } });
      expect(res.status, res.text).toBe(201);
      expect(res.json).toMatchObject({ productIds: [8, 16], policyId: yearly.id, maxMachines: null, firstUseDays: null, note: 'order 7' });
      const expires = Date.parse(res.json.expiresAt);
      expect(expires).toBeGreaterThanOrEqual(before + 30 * DAY_MS);
      expect(expires).toBeLessThanOrEqual(Date.now() + 30 * DAY_MS);
      expect((await api.call('GET', `/licenses/${res.json.id}`)).json).toMatchObject({ policyId: yearly.id, expiresAt: res.json.expiresAt });
    });

    it('first-use: no expiry yet, firstUseDays set', async () => {
      const res = await api.call('POST', '/licenses', { body: { policyId: firstUse.id } });
      expect(res.status, res.text).toBe(201);
      expect(res.json).toMatchObject({ productIds: [17], policyId: firstUse.id, expiresAt: null, firstUseDays: 7 });
    });

    it("what the license says itself wins: its products, expiry and machine limit", async () => {
      const res = await api.call('POST', '/licenses', { body: { policyId: yearly.id, productIds: [17], expiresAt: '2099-01-01', maxMachines: 5 } });
      expect(res.status, res.text).toBe(201);
      expect(res.json).toMatchObject({ productIds: [17], policyId: yearly.id, expiresAt: '2099-01-01T00:00:00.000Z', maxMachines: 5, firstUseDays: null });
    });

    it('PATCH attaches or detaches a policy and sets or clears the own machine limit, never moving products or expiry', async () => {
      const plain = (await api.call('POST', '/licenses', { body: { productIds: [8] } })).json;
      const attached = await api.call('PATCH', `/licenses/${plain.id}`, { body: { policyId: firstUse.id, maxMachines: 4 } });
      expect(attached.status, attached.text).toBe(200);
      expect(attached.json).toMatchObject({ policyId: firstUse.id, maxMachines: 4, productIds: [8], expiresAt: null, firstUseDays: null });
      const cleared = await api.call('PATCH', `/licenses/${plain.id}`, { body: { policyId: null, maxMachines: null } });
      expect(cleared.json).toMatchObject({ policyId: null, maxMachines: null, productIds: [8] });
    });

    it('an unknown policy is 404 policy_not_found on create and on change; nothing is issued', async () => {
      const count = (await api.call('GET', '/licenses?limit=1000')).json.items.length;
      const res = await api.call('POST', '/licenses', { body: { policyId: 999_999 } });
      expect(res.status).toBe(404);
      expect(errorOf(res)).toEqual({ code: 'policy_not_found', message: 'policy 999999 does not exist' });
      expect((await api.call('GET', '/licenses?limit=1000')).json.items).toHaveLength(count);
      const some = (await api.call('GET', '/licenses?limit=1')).json.items[0];
      const change = await api.call('PATCH', `/licenses/${some.id}`, { body: { policyId: 999_999 } });
      expect(change.status).toBe(404);
      expect(errorOf(change).code).toBe('policy_not_found');
    });

    it('refuses a machine limit below 1 or above 100000, and a license with neither products nor a policy', async () => {
      for (const maxMachines of [0, -1, 100_001]) {
        await refused('POST', '/licenses', { policyId: yearly.id, maxMachines }, 'maxMachines');
        await refused('PATCH', '/licenses/1', { maxMachines }, 'maxMachines');
      }
      await refused('POST', '/licenses', { policyId: 0 }, 'policyId');
      const none = await api.call('POST', '/licenses', { body: { note: 'nothing granted' } });
      expect(none.status).toBe(400);
      expect(errorOf(none).message).toBe('a license must grant at least one product');
    });
  });

  describe("a license's machines", () => {
    let policy: any;
    let licenseId: number;
    let otherId: number;
    const machineIds: number[] = [];

    beforeAll(async () => {
      policy = (await api.call('POST', '/policies', { body: { name: 'Two machines', productIds: [8], maxMachines: 2, deactivationsPerDay: 0 } })).json;
      licenseId = (await api.call('POST', '/licenses', { body: { policyId: policy.id } })).json.id;
      otherId = (await api.call('POST', '/licenses', { body: { policyId: policy.id } })).json.id;
      machineIds.push((await activate(licenseId, 'fp-one')).id, (await activate(licenseId, 'fp-two')).id);
      await activate(otherId, 'fp-other');
    });

    it('lists them oldest first, a page at a time', async () => {
      const res = await api.call('GET', `/licenses/${licenseId}/machines`);
      expect(res.status, res.text).toBe(200);
      expect(res.json.nextCursor).toBeNull();
      expect(res.json.items.map((m: any) => m.fingerprint)).toEqual(['fp-one', 'fp-two']);
      const [one] = res.json.items;
      expect(Object.keys(one).sort()).toEqual([...MACHINE_FIELDS].sort());
      expect(one).toMatchObject({ id: machineIds[0], licenseId, name: 'box fp-one', ip: '203.0.113.9', alive: true, deadAt: null });
      expect(one.lastSeenAt).toMatch(ISO_TIME);

      const first = await api.call('GET', `/licenses/${licenseId}/machines?limit=1`);
      expect(first.json.items.map((m: any) => m.id)).toEqual([machineIds[0]]);
      const second = await api.call('GET', `/licenses/${licenseId}/machines?limit=1&cursor=${first.json.nextCursor}`);
      expect(second.json).toEqual({ items: [expect.objectContaining({ id: machineIds[1] })], nextCursor: null });

      const plain = (await api.call('POST', '/licenses', { body: { productIds: [8] } })).json;
      expect((await api.call('GET', `/licenses/${plain.id}/machines`)).json).toEqual({ items: [], nextCursor: null });
      const missing = await api.call('GET', '/licenses/999999/machines');
      expect(missing.status).toBe(404);
      expect(errorOf(missing).code).toBe('license_not_found');
    });

    it('frees one (204) as staff: the daily allowance (0 here) does not apply and is not spent; audited and announced', async () => {
      const left = await server().services.machines.deactivationsLeft(licenseId, 'key');
      const res = await api.call('DELETE', `/licenses/${licenseId}/machines/${machineIds[0]}`);
      expect(res.status, res.text).toBe(204);
      expect(res.text).toBe('');
      expect((await api.call('GET', `/licenses/${licenseId}/machines`)).json.items.map((m: any) => m.id)).toEqual([machineIds[1]]);
      expect(await server().services.machines.deactivationsLeft(licenseId, 'key')).toBe(left);
      const audit = await api.call('GET', `/audit?action=machine.deactivated&targetId=${licenseId}`);
      expect(audit.json.items).toEqual([expect.objectContaining({ actor: 'token:pricing-bot', targetType: 'license' })]);
      expect(audit.json.items[0].after).toEqual({ by: 'staff' });
      // The slot is free again.
      await activate(licenseId, 'fp-three');
    });

    it('404 machine_not_found for a machine of another license, or none; 404 license_not_found for no license', async () => {
      const [other] = (await api.call('GET', `/licenses/${otherId}/machines`)).json.items;
      const elsewhere = await api.call('DELETE', `/licenses/${licenseId}/machines/${other.id}`);
      expect(elsewhere.status).toBe(404);
      expect(errorOf(elsewhere)).toEqual({ code: 'machine_not_found', message: `machine ${other.id} does not exist on license ${licenseId}` });
      expect((await api.call('GET', `/licenses/${otherId}/machines`)).json.items).toHaveLength(1);
      const gone = await api.call('DELETE', `/licenses/${licenseId}/machines/${machineIds[0]}`);
      expect(errorOf(gone).code).toBe('machine_not_found');
      const noLicense = await api.call('DELETE', `/licenses/999999/machines/${other.id}`);
      expect(noLicense.status).toBe(404);
      expect(errorOf(noLicense).code).toBe('license_not_found');
    });

    // Regression guard (was a bug): a license whose machine limit became "none" keeps its machines
    // (listed), but staff could not free them: 404 machine_not_found for a machine the list shows.
    it('frees a machine a license keeps after it stopped tracking machines', async () => {
      await api.call('PATCH', `/policies/${policy.id}`, { body: { maxMachines: null } });
      const [kept] = (await api.call('GET', `/licenses/${otherId}/machines`)).json.items;
      expect(kept).toMatchObject({ fingerprint: 'fp-other', alive: true });
      expect((await api.call('DELETE', `/licenses/${otherId}/machines/${kept.id}`)).status).toBe(204);
      expect((await api.call('GET', `/licenses/${otherId}/machines`)).json.items).toEqual([]);
    });
  });

  describe('scopes', () => {
    it('policies:read and policies:write are scopes like the others', () => {
      expect(SCOPES).toEqual(expect.arrayContaining(['policies:read', 'policies:write']));
    });

    it('a token without policies:* gets 403 on every policy route; read does not imply write', async () => {
      const licensesOnly = await api.token(['licenses:read', 'licenses:write', 'products:read', 'products:write']);
      for (const [method, path, body] of [
        ['GET', '/policies', undefined],
        ['GET', '/policies/1', undefined],
        ['POST', '/policies', { name: 'x', productIds: [8] }],
        ['PATCH', '/policies/1', { name: 'x' }],
        ['DELETE', '/policies/1', undefined],
      ] as const) {
        const res = await api.call(method, path, { token: licensesOnly, body });
        expect(res.status, `${method} ${path}`).toBe(403);
        expect(errorOf(res).details).toEqual({ requiredScope: method === 'GET' ? 'policies:read' : 'policies:write' });
      }
      const reader = await api.token(['policies:read']);
      expect((await api.call('GET', '/policies', { token: reader })).status).toBe(200);
      expect((await api.call('POST', '/policies', { token: reader, body: { name: 'x', productIds: [8] } })).status).toBe(403);
    });

    it('machines follow the license scopes: licenses:read lists, licenses:write frees', async () => {
      const license = (await api.call('POST', '/licenses', { body: { productIds: [8], maxMachines: 1 } })).json;
      const machine = await activate(license.id, 'fp-scoped');
      const reader = await api.token(['licenses:read']);
      expect((await api.call('GET', `/licenses/${license.id}/machines`, { token: reader })).status).toBe(200);
      const denied = await api.call('DELETE', `/licenses/${license.id}/machines/${machine.id}`, { token: reader });
      expect(denied.status).toBe(403);
      expect(errorOf(denied).details).toEqual({ requiredScope: 'licenses:write' });
      const policiesOnly = await api.token(['policies:read', 'policies:write']);
      expect((await api.call('GET', `/licenses/${license.id}/machines`, { token: policiesOnly })).status).toBe(403);
      expect((await api.call('GET', `/licenses/${license.id}/machines`)).json.items).toHaveLength(1);
    });
  });
});
