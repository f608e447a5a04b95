import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort, startServerProcess, type ServerProcess } from './helpers/cli.js';
import { describeEachDialect, type TestDatabase } from './helpers/dialects.js';
import { request } from './helpers/http.js';
import { clientCall, ensureProducts, eventsOf, issueFrom, issueLicense, makePolicy, subscribe, tally } from './helpers/machines.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { eachDialect, PUBLIC_URL } from './helpers/suite.js';
import { until } from './helpers/wait.js';
import { startReceiver, type Receiver } from './helpers/webhook-receiver.js';

/**
 * Metered usage through the client endpoint `/api/license/usage` (docs/check-api.md): OK counts,
 * USAGE EXCEEDED counts nothing, the limit in force is the license's own else its policy's, bad
 * increments are refused and change nothing, and under a race of many increments (through two
 * instances on one PostgreSQL, or one on SQLite) exactly the limit passes and
 * `license.usage_limit_reached` is sent once each time the counter reaches it.
 */
const ENV = { WEBHOOK_POLL_MS: '50', WEBHOOK_RETRY_BASE_MS: '100' };
const LIMIT_EVENT = 'license.usage_limit_reached';
const tail = ` - ${PUBLIC_URL}`;
const ok = (uses: number, maxUses: number | null) => ({ status: 'OK', pass: true, details: `Usage recorded${tail}`, machine: null, uses, maxUses });
const exceeded = (uses: number, maxUses: number) => ({
  status: 'USAGE EXCEEDED',
  pass: false,
  details: `This license key has reached its usage limit; nothing was counted${tail}`,
  machine: null,
  uses,
  maxUses,
});
const INVALID_INCREMENT = {
  status: 'INVALID INPUT',
  pass: false,
  details: `increment must be a whole number from 1 to 1,000,000${tail}`,
  machine: null,
  uses: null,
  maxUses: null,
};

/** Runs `count` calls with at most `limit` in flight; answers in call order. */
async function inFlight<T>(count: number, limit: number, call: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await call(i);
      }
    }),
  );
  return out;
}

eachDialect(
  'metered usage: /api/license/usage',
  (server) => {
    const url = () => server().url;
    const use = (key: string, body: Record<string, unknown> | string = { productId: 8 }) => clientCall(url(), 'usage', key, body);
    const usesOf = async (id: number) => (await server().services.usage.get(id)).uses;
    /** The license's total checks and Previous Auths rows, once every queued write is in. */
    const counted = async (id: number) => {
      await server().flush();
      return { total: (await server().services.licenses.show(id)).totalChecks, rows: (await server().services.logs.checks({ licenseId: id })).map((r) => [r.endpoint, r.status]) };
    };
    beforeAll(async () => {
      await ensureProducts(server(), [8, 9]);
    });

    it('OK counts and answers the counter and the limit; USAGE EXCEEDED counts nothing; the increment defaults to 1', async () => {
      const policy = await makePolicy(server(), [8], { maxUses: 5 });
      const { id, key } = await issueFrom(server(), policy.id);
      expect((await use(key)).json).toEqual(ok(1, 5));
      expect((await use(key, { productId: 8, increment: 3 })).json).toEqual(ok(4, 5));
      expect((await use(key, { productId: 8, increment: 2 })).json).toEqual(exceeded(4, 5));
      expect(await usesOf(id)).toBe(4);
      expect((await use(key, { productId: 8, increment: 1 })).json).toEqual(ok(5, 5));
      expect((await use(key)).json).toEqual(exceeded(5, 5));
      expect(await server().services.usage.get(id)).toEqual({ licenseId: id, uses: 5, maxUses: 5 });
      // validate reads the stored counter.
      expect((await clientCall(url(), 'validate', key, { productId: 8 })).json.license).toMatchObject({ uses: 5, maxUses: 5 });
      // Each call is a check, logged with its endpoint.
      expect(await counted(id)).toEqual({
        total: 6,
        rows: [
          ['validate', 'AUTHORISED'],
          ['usage', 'USAGE EXCEEDED'],
          ['usage', 'OK'],
          ['usage', 'USAGE EXCEEDED'],
          ['usage', 'OK'],
          ['usage', 'OK'],
        ],
      });
    });

    it('an unmetered license counts, with maxUses null, up to a million at a time', async () => {
      const { id, key } = await issueLicense(server(), { productIds: [8] });
      expect((await use(key)).json).toEqual(ok(1, null));
      expect((await use(key, { productId: 8, increment: 1_000_000 })).json).toEqual(ok(1_000_001, null));
      expect(await server().services.usage.get(id)).toEqual({ licenseId: id, uses: 1_000_001, maxUses: null });
    });

    it('the limit in force: the license’s own over its policy’s, either way; null inherits; changes apply at once', async () => {
      const policy = await makePolicy(server(), [8], { maxUses: 10 });
      const lower = await issueFrom(server(), policy.id, { maxUses: 2 });
      expect((await use(lower.key, { productId: 8, increment: 2 })).json).toEqual(ok(2, 2));
      expect((await use(lower.key)).json).toEqual(exceeded(2, 2));
      const higher = await issueFrom(server(), policy.id, { maxUses: 20 });
      expect((await use(higher.key, { productId: 8, increment: 15 })).json).toEqual(ok(15, 20));
      const inherits = await issueFrom(server(), policy.id);
      expect((await use(inherits.key, { productId: 8, increment: 11 })).json).toEqual(exceeded(0, 10));

      await server().services.licenses.update(lower.id, { maxUses: null }, 'test');
      expect((await use(lower.key, { productId: 8, increment: 8 })).json).toEqual(ok(10, 10));
      await server().services.policies.update(policy.id, { maxUses: 12 }, 'test');
      expect((await use(lower.key, { productId: 8, increment: 2 })).json).toEqual(ok(12, 12));
      // A limit lowered below the counter: nothing more counts, the counter stays.
      await server().services.licenses.update(higher.id, { maxUses: 5 }, 'test');
      expect((await use(higher.key)).json).toEqual(exceeded(15, 5));
      expect(await usesOf(higher.id)).toBe(15);
    });

    // Regression guard, was a bug (check-license.ts, decide): the first-use clock started, and a locked
    // license bound its first IP, before usage was counted, so a USAGE EXCEEDED refusal did both.
    it('USAGE EXCEEDED starts no first-use clock and binds no first IP; the first OK does both', async () => {
      const policy = await makePolicy(server(), [8], { durationDays: 30, expiryBasis: 'first-use', maxUses: 3 });
      const { id, key } = await issueFrom(server(), policy.id, { ipLocked: true });
      const state = async () => {
        await server().flush();
        const license = await server().services.licenses.show(id);
        return { started: license.expiresAt !== null, ips: license.ips };
      };
      expect((await use(key, { productId: 8, increment: 5 })).json).toEqual(exceeded(0, 3));
      expect(await state()).toEqual({ started: false, ips: [] });
      expect((await use(key, { productId: 8, increment: 3 })).json).toEqual(ok(3, 3));
      expect(await until(state, (s) => s.ips.length > 0, 1000)).toEqual({ started: true, ips: ['127.0.0.1'] });
    });

    it.each([[0], [-1], [1.5], [1_000_001], ['abc'], [''], [true], [[]], [{}], ['1e3']])('increment %j: INVALID INPUT, nothing counted, no check recorded', async (increment) => {
      const policy = await makePolicy(server(), [8], { maxUses: 100 });
      const { id, key } = await issueFrom(server(), policy.id);
      expect((await use(key, { productId: 8, increment })).json).toEqual(INVALID_INCREMENT);
      expect(await usesOf(id)).toBe(0);
      expect(await counted(id)).toEqual({ total: 0, rows: [] });
    });

    it('a bad increment in a query or a form is refused the same way', async () => {
      const { id, key } = await issueLicense(server(), { productIds: [8], maxUses: 100 });
      const form = { 'content-type': 'application/x-www-form-urlencoded' };
      for (const query of ['increment=0', 'increment=1.5', 'increment=abc', 'increment=', 'increment=1000001', 'increment=-1']) {
        expect((await request(url(), { method: 'GET', path: `/api/license/usage?productId=8&${query}`, headers: { authorization: key } })).json, query).toEqual(INVALID_INCREMENT);
        expect((await clientCall(url(), 'usage', key, `productId=8&${query}`, { headers: form })).json, query).toEqual(INVALID_INCREMENT);
      }
      expect(await usesOf(id)).toBe(0);
      expect(await counted(id)).toEqual({ total: 0, rows: [] });
    });

    it('digits as text in a query or a form are a number', async () => {
      const { id, key } = await issueLicense(server(), { productIds: [8], maxUses: 100 });
      const get = await request(url(), { method: 'GET', path: '/api/license/usage?productId=8&increment=5', headers: { authorization: key } });
      expect(get.json).toEqual(ok(5, 100));
      const form = await clientCall(url(), 'usage', key, 'productId=8&increment=07', { headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(form.json).toEqual(ok(12, 100));
      expect((await use(key, { productId: '8', increment: '3' })).json).toEqual(ok(15, 100));
      expect(await usesOf(id)).toBe(15);
    });

    it('the check comes first: a failing check counts nothing (unknown key, other product, disabled, missing entitlement, no fingerprint)', async () => {
      const policy = await makePolicy(server(), [8], { maxUses: 100, entitlements: ['pro'] });
      const { id, key } = await issueFrom(server(), policy.id);
      expect((await use('no-such-key-0123456789')).json).toMatchObject({ status: 'NOT FOUND', pass: false, uses: null, maxUses: null });
      expect((await use(key, { productId: 9 })).json).toMatchObject({ status: 'NOT FOUND', uses: null });
      expect((await use(key, { productId: 8, entitlements: ['beta'] })).json).toMatchObject({ status: 'ENTITLEMENT MISSING', pass: false, uses: null });
      expect((await use(key, { productId: 8, entitlements: 'pro' })).json).toEqual(ok(1, 100));
      await server().services.licenses.update(id, { disabled: true }, 'test');
      expect(await until(async () => (await use(key)).json.status, (s) => s === 'KEY DISABLED', 1000)).toBe('KEY DISABLED');
      expect(await usesOf(id)).toBe(1);

      const tracked = await issueFrom(server(), (await makePolicy(server(), [8], { maxUses: 100, maxMachines: 1 })).id);
      expect((await use(tracked.key)).json).toMatchObject({ status: 'FINGERPRINT REQUIRED', uses: null });
      expect((await use(tracked.key, { productId: 8, fingerprint: 'pc-1', increment: 2 })).json).toMatchObject({ status: 'OK', uses: 2, machine: { fingerprint: 'pc-1' } });
      expect((await use(tracked.key, { productId: 8, fingerprint: 'pc-2' })).json).toMatchObject({ status: 'TOO MANY MACHINES', uses: null });
      expect(await usesOf(tracked.id)).toBe(2);
    });
  },
  ENV,
);

/** The race: many increments at once, fewer in flight than sent so the test takes seconds. */
const SENT = 500;
const IN_FLIGHT = 50;
const MAX_USES = 300;

describeEachDialect('metered usage under a race ($name)', (create, dialect) => {
  let db: TestDatabase;
  let server: TestServer;
  /** PostgreSQL: a second instance (a `keyward serve` process) on the same database. */
  let other: ServerProcess | null = null;
  let receiver: Receiver;

  beforeAll(async () => {
    db = await create();
    server = await startTestServer(db, ENV);
    if (dialect === 'postgres') other = await startServerProcess({ ...db.env, ...ENV }, await freePort(), 'silent');
    receiver = await startReceiver();
    await ensureProducts(server, [8]);
    await subscribe(server, receiver, [LIMIT_EVENT]);
  });
  afterAll(async () => {
    await other?.stop('SIGKILL');
    await server?.close();
    await receiver?.close();
    await db?.cleanup();
  });

  /** Every other call goes to the second instance when there is one. */
  const target = (i: number) => (other && i % 2 === 1 ? other.url : server.url);
  const race = (key: string, count: number) =>
    inFlight(count, IN_FLIGHT, async (i) => (await clientCall(target(i), 'usage', key, { productId: 8, increment: 1 })).json as { status: string; uses: number; maxUses: number });
  /** The limit events about a license, once no more arrive for a while. */
  const settledEvents = async (id: number, want: number) => {
    await receiver.waitFor(() => eventsOf(receiver, LIMIT_EVENT, id).length >= want);
    await new Promise((r) => setTimeout(r, 500));
    return eventsOf(receiver, LIMIT_EVENT, id);
  };

  it(`${SENT} increments of 1 at maxUses ${MAX_USES}, ${IN_FLIGHT} in flight: exactly ${MAX_USES} OK, the limit event sent once; again after a staff reset`, async () => {
    const { id, key } = await issueLicense(server, { productIds: [8], maxUses: MAX_USES });
    const answers = await race(key, SENT);
    expect(tally(answers.map((a) => a.status))).toEqual({ OK: MAX_USES, 'USAGE EXCEEDED': SENT - MAX_USES });
    // Each OK saw its own counter value: 1 to 300, once each; each refusal saw the limit reached.
    expect(answers.filter((a) => a.status === 'OK').map((a) => a.uses).sort((a, b) => a - b)).toEqual(Array.from({ length: MAX_USES }, (_, i) => i + 1));
    expect(answers.filter((a) => a.status === 'USAGE EXCEEDED').every((a) => a.uses === MAX_USES && a.maxUses === MAX_USES)).toBe(true);
    expect(await server.services.usage.get(id)).toEqual({ licenseId: id, uses: MAX_USES, maxUses: MAX_USES });

    const [reached] = await settledEvents(id, 1);
    expect(eventsOf(receiver, LIMIT_EVENT, id)).toHaveLength(1);
    expect(reached!.json.data).toEqual({ license: expect.objectContaining({ id, uses: MAX_USES, maxUses: MAX_USES }), uses: MAX_USES, maxUses: MAX_USES });
    expect(reached!.json.data.license.key).toBeUndefined();

    // Every call was a check, on whichever instance answered it.
    await server.flush();
    const totalChecks = async () => (await server.services.licenses.show(id)).totalChecks;
    expect(await until(totalChecks, (n) => n === SENT)).toBe(SENT);

    // Staff reset the counter (audited); reaching the limit again sends the event again.
    expect(await server.services.usage.change(id, { reset: true }, 'staff:test')).toEqual({ licenseId: id, uses: 0, maxUses: MAX_USES });
    expect(await server.services.logs.audit({ action: 'license.usage_reset', targetId: String(id) })).toMatchObject([{ actor: 'staff:test', before: { uses: MAX_USES }, after: { uses: 0 } }]);
    const again = await race(key, MAX_USES + 50);
    expect(tally(again.map((a) => a.status))).toEqual({ OK: MAX_USES, 'USAGE EXCEEDED': 50 });
    expect(await settledEvents(id, 2)).toHaveLength(2);
  });
});
