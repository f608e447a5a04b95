import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { apiClient, errorOf } from './helpers/api.js';
import { signedIn } from './helpers/dashboard.js';
import { request } from './helpers/http.js';
import type { TestServer } from './helpers/server.js';
import { eachDialect } from './helpers/suite.js';
import { until } from './helpers/wait.js';
import { startReceiver, type Receiver } from './helpers/webhook-receiver.js';

/**
 * A change, its audit entry and its webhook deliveries commit together (docs/api.md, "Delivery,
 * retries and the delivery log"). A fault is injected between the change and the commit through
 * the real database: a trigger that raises on the audit insert (or the outbox insert) of a
 * marked row. The change must leave nothing behind, and the caller must be told.
 */

/** Makes every insert into `table` whose new row matches `when` fail, until the returned function drops it. */
async function injectFault(s: TestServer, table: 'audit_logs' | 'webhook_deliveries', when: string): Promise<() => Promise<void>> {
  const { db, dialect } = s.internal.storage;
  const name = `fault_${table}`;
  if (dialect === 'sqlite') {
    await sql.raw(`create trigger ${name} before insert on ${table} when ${when} begin select raise(abort, 'injected fault'); end`).execute(db);
  } else {
    await sql`create or replace function keyward_injected_fault() returns trigger language plpgsql as $$ begin raise exception 'injected fault'; end $$`.execute(db);
    await sql.raw(`create trigger ${name} before insert on ${table} for each row when (${when}) execute function keyward_injected_fault()`).execute(db);
  }
  return async () => {
    await sql.raw(dialect === 'sqlite' ? `drop trigger if exists ${name}` : `drop trigger if exists ${name} on ${table}`).execute(db);
  };
}

eachDialect(
  'a fault between a change and its commit leaves nothing behind',
  (server) => {
    let token: string;
    let receiver: Receiver;
    let removeFault: (() => Promise<void>) | null = null;
    const api = apiClient(server, () => token);

    const rows = async () => {
      const db = server().internal.storage.db;
      const count = async (table: 'audit_logs' | 'webhook_deliveries') =>
        Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
      return { audit: await count('audit_logs'), deliveries: await count('webhook_deliveries') };
    };
    const fault = async (table: 'audit_logs' | 'webhook_deliveries', when: string) => {
      removeFault = await injectFault(server(), table, when);
    };
    const internalError = (res: { status: number; json: unknown; text: string }) => {
      expect(res.status, res.text).toBe(500);
      expect(errorOf(res as never)).toEqual({ code: 'internal_error', message: 'the server could not complete the request; try again later' });
    };

    beforeAll(async () => {
      // The faults below are keyed on this token's actor, `token:crash`.
      token = await api.token('all', 'crash');
      receiver = await startReceiver();
      await server().issue([8]);
      await server().services.webhooks.create({ url: receiver.url, events: ['license.created', 'license.updated', 'check.ip_bound'] }, 'test');
    });
    afterEach(async () => {
      await removeFault?.();
      removeFault = null;
    });
    afterAll(async () => receiver?.close());

    it('a license update whose audit entry fails: no change, no delivery, a 500; without the fault all three land', async () => {
      const { id } = await server().issue([8], { note: 'before' });
      const before = await server().services.licenses.show(id);
      const counted = await rows();
      await fault('audit_logs', `new.actor = 'token:crash'`);
      internalError(await api.call('PATCH', `/licenses/${id}`, { body: { note: 'after', disabled: true } }));
      expect(await server().services.licenses.show(id)).toEqual(before);
      expect(await rows()).toEqual(counted);

      await removeFault!();
      expect((await api.call('PATCH', `/licenses/${id}`, { body: { note: 'after' } })).status).toBe(200);
      expect((await server().services.licenses.show(id)).note).toBe('after');
      expect(await rows()).toEqual({ audit: counted.audit + 1, deliveries: counted.deliveries + 1 });
    });

    it('a license update whose webhook delivery (outbox row) fails: no change, no audit entry, a 500', async () => {
      const { id } = await server().issue([8]);
      const before = await server().services.licenses.show(id);
      const counted = await rows();
      await fault('webhook_deliveries', `new.payload like '%crash-marker%'`);
      internalError(await api.call('PATCH', `/licenses/${id}`, { body: { note: 'crash-marker', ips: ['192.0.2.1'] } }));
      expect(await server().services.licenses.show(id)).toEqual(before);
      expect(await rows()).toEqual(counted);
      expect(await server().services.logs.audit({ targetType: 'license', targetId: String(id), action: 'license.updated' })).toEqual([]);
    });

    it('a license created while its outbox row fails does not exist afterwards', async () => {
      const counted = await rows();
      const total = (await server().services.licenses.counts()).total;
      await fault('webhook_deliveries', `new.payload like '%crash-marker%'`);
      internalError(await api.call('POST', '/licenses', { body: { productIds: [8], note: 'crash-marker' } }));
      expect((await server().services.licenses.counts()).total).toBe(total);
      expect(await rows()).toEqual(counted);
    });

    it('a product change whose audit entry fails: the product is as before, a 500', async () => {
      const product = await server().services.products.create({ id: 21, name: 'Before' }, 'test');
      const counted = await rows();
      await fault('audit_logs', `new.actor = 'token:crash'`);
      internalError(await api.call('PATCH', '/products/21', { body: { name: 'After', description: 'changed' } }));
      internalError(await api.call('DELETE', '/products/21'));
      expect(await server().services.products.get(21)).toEqual(product);
      expect(await rows()).toEqual(counted);
    });

    it('a user disabled while the audit entry fails stays enabled and keeps their sessions, a 500', async () => {
      const victim = await signedIn(server(), 'fault-victim', 'customer');
      const user = (await server().services.users.findByUsername('fault-victim'))!;
      const counted = await rows();
      await fault('audit_logs', `new.actor = 'token:crash'`);
      internalError(await api.call('PATCH', `/users/${user.id}`, { body: { disabled: true, email: 'changed@example.com' } }));
      expect(await server().services.users.get(user.id)).toEqual(user);
      expect(await rows()).toEqual(counted);
      // Ending the sessions was part of the change, so it was rolled back with it.
      expect((await victim.get('/licenses')).status).toBe(200);
    });
  },
  { TRUST_PROXY: 'loopback' },
);

eachDialect(
  'a fault in the first-IP bind never reaches the check',
  (server) => {
    const check = async (key: string, ip: string) =>
      (await request(server().url, { path: '/api/check/8', headers: { authorization: key, 'x-real-ip': ip } })).json.status as string;
    /** The audit entries first: when the entry is committed, so is the bind it was written with. */
    const bound = async (id: number) => {
      const audit = (await server().services.logs.audit({ action: 'license.ip_bound', targetId: String(id) })).length;
      return { ips: (await server().services.licenses.show(id)).ips, audit };
    };

    it('the check answers AUTHORISED, the bind is rolled back with its audit entry, and a later check binds', async () => {
      const s = server();
      const { id, key } = await s.issue([8], { ipLocked: true });
      const removeFault = await injectFault(s, 'audit_logs', `new.action = 'license.ip_bound'`);
      try {
        expect(await check(key, '192.0.2.10')).toBe('AUTHORISED');
        // Another address passes only once the failed bind was rolled back and forgotten.
        expect(await until(() => check(key, '192.0.2.11'), (status) => status === 'AUTHORISED', 5000)).toBe('AUTHORISED');
        expect(await bound(id)).toEqual({ ips: [], audit: 0 });
      } finally {
        await removeFault();
      }
      // Without the fault a later first check binds, once, with its audit entry. (The bind the
      // check from .11 started may be the one that lands, if it ran after the fault was gone.)
      const after = await until(
        async () => {
          await check(key, '192.0.2.12');
          return bound(id);
        },
        (b) => b.audit === 1,
        5000,
      );
      expect(after.audit).toBe(1);
      expect(['192.0.2.11', '192.0.2.12']).toContain(after.ips[0]);
      expect(after.ips).toHaveLength(1);
      expect(await until(() => check(key, '192.0.2.10'), (status) => status === 'NOT AUTHORISED', 5000)).toBe('NOT AUTHORISED');
      expect(await bound(id)).toEqual(after);
    });
  },
  { TRUST_PROXY: 'loopback' },
);
