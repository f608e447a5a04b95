import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { activate, deactivate } from '../src/client/index.js';
import { webhookMachineEvents } from '../src/storage/migrations/0011-webhook-machine-events.js';
import { eachDialect } from './helpers/suite.js';
import { startReceiver, type Receiver } from './helpers/webhook-receiver.js';

/**
 * docs/machines.md and docs/api.md: machine.activated|deactivated|dead carry {license, machine, by},
 * with `by` naming who freed it; endpoints subscribed to every event receive them, also endpoints
 * registered before they existed (migration 0011).
 */

const ENV = { WEBHOOK_RETRY_BASE_MS: '100', WEBHOOK_POLL_MS: '50' };
/** Every event an endpoint could pick before the machine events. */
const EVERY_EVENT_BEFORE = ['license.created', 'license.updated', 'license.deleted', 'license.regenerated', 'check.ip_bound'];

eachDialect(
  'webhooks: machine events',
  (server) => {
    let receiver: Receiver;
    let pem: string;
    let policyId: number;
    const machineEvents = () => receiver.received.filter((r) => String(r.json?.type).startsWith('machine.')).map((r) => r.json);

    beforeAll(async () => {
      receiver = await startReceiver();
      await server().services.products.create({ id: 8, name: 'App' }, 'test');
      policyId = (await server().services.policies.create({ name: 'Two seats', productIds: [8], maxMachines: 2, heartbeatSeconds: 60 }, 'test')).id;
      ({ pem } = await (await fetch(`${server().url}/api/public-key`)).json());
    });
    afterAll(async () => {
      for (const w of await server().services.webhooks.list()) await server().services.webhooks.delete(w.id, 'test');
      await receiver?.close();
    });
    beforeEach(async () => {
      for (const w of await server().services.webhooks.list()) await server().services.webhooks.delete(w.id, 'test');
      receiver.received.length = 0;
    });

    it('an endpoint created without events gets machine.activated, .deactivated and .dead with {license, machine, by}', async () => {
      const hook = await server().services.webhooks.create({ url: receiver.url }, 'test');
      expect(hook.events).toEqual(expect.arrayContaining(['machine.activated', 'machine.deactivated', 'machine.dead']));
      const license = await server().services.licenses.create({ policyId }, 'test');
      const call = { url: server().url, productId: 8, key: license.key, publicKey: pem };

      expect((await activate({ ...call, fingerprint: 'pc-1', name: 'Office' })).status).toBe('ACTIVATED');
      expect((await activate({ ...call, fingerprint: 'pc-2' })).status).toBe('ACTIVATED');
      expect((await deactivate({ ...call, fingerprint: 'pc-1' })).status).toBe('DEACTIVATED');
      // Nobody saw pc-2 for longer than the policy's heartbeat: the sweep frees it.
      expect(await server().services.machines.sweepDead(Date.now() + 120_000, { limit: 10, graceMs: 0 })).toBe(1);
      await receiver.waitFor(() => machineEvents().length === 4);

      const events = machineEvents().sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt));
      expect(events.map((e) => [e.type, e.data.machine.fingerprint, e.data.by])).toEqual([
        ['machine.activated', 'pc-1', 'key'],
        ['machine.activated', 'pc-2', 'key'],
        ['machine.deactivated', 'pc-1', 'key'],
        ['machine.dead', 'pc-2', 'heartbeat'],
      ]);
      for (const e of events) {
        expect(Object.keys(e.data).sort()).toEqual(['by', 'license', 'machine']);
        expect(e.data.license).toMatchObject({ id: license.id, policyId, productIds: [8] });
        expect(JSON.stringify(e)).not.toContain(license.key);
      }
      expect(events[0].data.machine).toMatchObject({ licenseId: license.id, fingerprint: 'pc-1', name: 'Office', ip: '127.0.0.1' });
    });

    it('staff freeing a machine sends by "staff"; regenerating the key frees every machine with by "regenerated"', async () => {
      await server().services.webhooks.create({ url: receiver.url }, 'test');
      const license = await server().services.licenses.create({ policyId }, 'test');
      const call = { url: server().url, productId: 8, key: license.key, publicKey: pem };
      const a = (await activate({ ...call, fingerprint: 'a' })).machine!;
      await activate({ ...call, fingerprint: 'b' });
      await activate({ ...call, fingerprint: 'c' }).then((r) => expect(r.status).toBe('TOO MANY MACHINES'));
      await server().services.machines.deactivateById(a.id, 'admin');
      await server().services.licenses.regenerate(license.id, 'admin');
      await receiver.waitFor(() => machineEvents().filter((e) => e.type === 'machine.deactivated').length === 2);
      const freed = machineEvents().filter((e) => e.type === 'machine.deactivated');
      expect(freed.map((e) => [e.data.machine.fingerprint, e.data.by]).sort()).toEqual([
        ['a', 'staff'],
        ['b', 'regenerated'],
      ]);
    });

    it('an endpoint that picked its events gets only those', async () => {
      await server().services.webhooks.create({ url: receiver.url, events: ['machine.dead'] }, 'test');
      const license = await server().services.licenses.create({ policyId }, 'test');
      await activate({ url: server().url, productId: 8, key: license.key, publicKey: pem, fingerprint: 'x' });
      expect(await server().services.machines.sweepDead(Date.now() + 120_000, { limit: 10, graceMs: 0 })).toBe(1);
      await receiver.waitFor(() => receiver.received.length === 1);
      await new Promise((r) => setTimeout(r, 300));
      expect(receiver.received.map((r) => r.json.type)).toEqual(['machine.dead']);
    });

    it('migration 0011: endpoints that had every event before the machine events get them; a narrower pick stays as it was', async () => {
      const services = server().services.webhooks;
      const all = await services.create({ url: receiver.url, events: EVERY_EVENT_BEFORE }, 'test');
      const allAndFailed = await services.create({ url: receiver.url, events: ['check.failed', ...EVERY_EVENT_BEFORE] }, 'test');
      const some = await services.create({ url: receiver.url, events: ['license.created', 'license.deleted'] }, 'test');
      await webhookMachineEvents.up(server().internal.storage.db);
      const machine = ['machine.activated', 'machine.deactivated', 'machine.dead'];
      const eventsOf = async (id: number) => (await services.get(id)).events.slice().sort();
      expect(await eventsOf(all.id)).toEqual([...EVERY_EVENT_BEFORE, ...machine].sort());
      expect(await eventsOf(allAndFailed.id)).toEqual(['check.failed', ...EVERY_EVENT_BEFORE, ...machine].sort());
      expect(await eventsOf(some.id)).toEqual(['license.created', 'license.deleted']);
      // Running it again changes nothing.
      await webhookMachineEvents.up(server().internal.storage.db);
      expect(await eventsOf(all.id)).toEqual([...EVERY_EVENT_BEFORE, ...machine].sort());
    });
  },
  ENV,
);
