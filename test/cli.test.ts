import argon2 from 'argon2';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliChecks, runCli, type CliResult } from './helpers/cli.js';
import { describeEachDialect, type TestDatabase } from './helpers/dialects.js';
import { request } from './helpers/http.js';
import { ISO_TIME, LICENSE_KEY } from './helpers/patterns.js';
import { reposOf, startTestServer, type TestServer } from './helpers/server.js';

/**
 * End-to-end tests of every command of the CLI reference (README.md), through the real built CLI
 * (bin/keyward.js → dist/), against a fresh database of each dialect.
 * The tests of one dialect share one database and run in order: later tests build on the
 * products, users and licenses earlier ones created.
 */

/** The key on the human output's `key:` line (a key may start or end with - or _, so no \b). */
const shownKey = (text: string) => /^key:\s+(\S+)/m.exec(text)?.[1];
const LICENSE_FIELDS = [
  'id',
  'productIds',
  'owner',
  'active',
  'disabled',
  'ipLocked',
  'ips',
  'expiresAt',
  'entitlements',
  'uses',
  'maxUses',
  'note',
  'totalChecks',
  'lastCheckAt',
  'lastIp',
  'createdAt',
] as const;

type Json = Record<string, any>;

/** Everything but `updatedAt`, which every change moves. */
function stable(license: Json): Json {
  const { updatedAt: _ignored, ...rest } = license;
  return rest;
}

describeEachDialect('keyward CLI ($name)', (create) => {

  let db: TestDatabase;
  let server: TestServer | undefined;
  /** Every clear key the CLI ever printed (`keys`): no error message may contain one. */
  const { keys, expectFailure } = cliChecks(() => db.env);
  /** Every change the CLI made, in order: the audit log must list exactly these. */
  const changes: { action: string; targetId: string }[] = [];

  const cli = (args: string[]): Promise<CliResult> => runCli(db.env, args);

  /** Runs a command with --json that must succeed; returns its one JSON document. */
  async function ok(args: string[]): Promise<any> {
    const res = await cli([...args, '--json']);
    expect(res.stderr, `stderr of ${args.join(' ')}`).toBe('');
    expect(res.code, `exit code of ${args.join(' ')}`).toBe(0);
    // Exactly one JSON document: the whole of stdout parses as one value.
    expect(() => JSON.parse(res.stdout), `stdout of ${args.join(' ')}: ${res.stdout}`).not.toThrow();
    expect(res.stdout.endsWith('\n')).toBe(true);
    return res.json;
  }

  /** Runs a command without --json that must succeed; returns its text. */
  async function human(args: string[]): Promise<string> {
    const res = await cli(args);
    expect(res.stderr, `stderr of ${args.join(' ')}`).toBe('');
    expect(res.code, `exit code of ${args.join(' ')}`).toBe(0);
    expect(res.stdout.trim().length).toBeGreaterThan(0);
    // Human output is text, not JSON.
    expect(res.stdout.trimStart().startsWith('{')).toBe(false);
    return res.stdout;
  }

  async function fails(args: string[], message: RegExp): Promise<CliResult> {
    const res = await cli(args);
    expectFailure(res, args, message);
    return res;
  }

  async function theServer(): Promise<TestServer> {
    server ??= await startTestServer(db);
    return server;
  }

  beforeAll(async () => {
    db = await create();
  });
  afterAll(async () => {
    await server?.close();
    await db?.cleanup();
  });

  // Filled in as the tests go.
  let alice: Json;
  let plain: Json; // license granting product 8, changed flag by flag
  let bundle: Json; // license granting 16, 8, 17, owned by alice, IP-locked
  let single: Json; // license granting 17, created with human output, then regenerated
  let oldSingleKey: string;

  it('migrate creates the schema: {"ok":true}, human text says so', async () => {
    expect(await ok(['migrate'])).toEqual({ ok: true });
    // Idempotent, and the human form is a sentence rather than JSON.
    const text = await human(['migrate']);
    expect(text).toMatch(/up to date/i);
  });

  it('product create with --id/--description, without --id (next free id), and product list', async () => {
    const p8 = await ok(['product', 'create', '--name', 'Alpha Suite', '--id', '8', '--description', 'The first one']);
    changes.push({ action: 'product.created', targetId: '8' });
    expect(p8).toMatchObject({ id: 8, name: 'Alpha Suite', description: 'The first one' });
    expect(p8.createdAt).toMatch(ISO_TIME);
    expect(Math.abs(Date.parse(p8.createdAt) - Date.now())).toBeLessThan(60_000);

    const p16 = await ok(['product', 'create', '--name', 'Beta', '--id', '16']);
    changes.push({ action: 'product.created', targetId: '16' });
    expect(p16).toMatchObject({ id: 16, name: 'Beta', description: null });

    const next = await ok(['product', 'create', '--name', 'Gamma']);
    changes.push({ action: 'product.created', targetId: '17' });
    expect(next).toMatchObject({ id: 17, name: 'Gamma', description: null });

    const text = await human(['product', 'create', '--name', 'Delta Pack', '--description', 'fourth']);
    changes.push({ action: 'product.created', targetId: '18' });
    expect(text).toContain('18');
    expect(text).toContain('Delta Pack');

    const list = await ok(['product', 'list']);
    expect(Array.isArray(list)).toBe(true);
    expect(list.map((p: Json) => [p.id, p.name, p.description])).toEqual([
      [8, 'Alpha Suite', 'The first one'],
      [16, 'Beta', null],
      [17, 'Gamma', null],
      [18, 'Delta Pack', 'fourth'],
    ]);
    expect(list[0]).toEqual(p8);

    const listText = await human(['product', 'list']);
    for (const fact of ['8', 'Alpha Suite', 'The first one', '16', 'Beta', '17', 'Gamma', 'Delta Pack']) {
      expect(listText).toContain(fact);
    }
  });

  it('user create: fields, no password hash, a generated password shown once, role validation', async () => {
    alice = await ok(['user', 'create', '--username', 'alice', '--password', 'correct horse battery', '--email', 'alice@example.com', '--role', 'staff']);
    changes.push({ action: 'user.created', targetId: String(alice.id) });
    expect(alice).toMatchObject({ username: 'alice', email: 'alice@example.com', role: 'staff' });
    expect(Number.isInteger(alice.id)).toBe(true);
    // A password the admin chose is never echoed, nor any hash of it.
    expect(alice).not.toHaveProperty('password');
    expect(JSON.stringify(alice)).not.toMatch(/argon2|hash|correct horse/i);

    const bob = await ok(['user', 'create', '--username', 'bob']);
    changes.push({ action: 'user.created', targetId: String(bob.id) });
    expect(bob).toMatchObject({ username: 'bob', role: 'customer', email: null });
    expect(bob.id).not.toBe(alice.id);
    expect(typeof bob.password).toBe('string');
    expect(bob.password.length).toBeGreaterThanOrEqual(8);
    expect(JSON.stringify(bob)).not.toMatch(/argon2|hash/i);

    // Human output names the user and role and shows the generated password once.
    const text = await human(['user', 'create', '--username', 'dave', '--role', 'admin']);
    expect(text).toContain('dave');
    expect(text).toContain('admin');
    const generated = /password[^:\n]*:\s*(\S+)/i.exec(text)?.[1];
    expect(generated, text).toBeDefined();
    expect(text).not.toMatch(/\$argon2/);

    // An unknown role is refused and creates nothing: the same name is free afterwards.
    await fails(['user', 'create', '--username', 'carol', '--role', 'superuser', '--json'], /role/i);
    const carol = await ok(['user', 'create', '--username', 'carol', '--role', 'customer', '--password', 'carol-pass-1']);
    changes.push({ action: 'user.created', targetId: String(carol.id) });
    expect(carol).toMatchObject({ username: 'carol', role: 'customer' });

    // The stored hashes are argon2id of exactly the passwords (chosen, or generated and shown).
    const users = reposOf(await theServer()).users;
    const stored = async (u: string) => (await users.findByUsername(u))!.password_hash!;
    expect(await stored('alice')).toMatch(/^\$argon2id\$/);
    expect(await argon2.verify(await stored('alice'), 'correct horse battery')).toBe(true);
    expect(await argon2.verify(await stored('bob'), bob.password)).toBe(true);
    expect(await argon2.verify(await stored('dave'), generated!)).toBe(true);
    const daveId = (await users.findByUsername('dave'))!.id;
    // dave was created before carol; keep the audit expectation in creation order.
    changes.splice(changes.length - 1, 0, { action: 'user.created', targetId: String(daveId) });
  });

  it('license create: one product, defaults, key shown once', async () => {
    plain = await ok(['license', 'create', '--product', '8']);
    changes.push({ action: 'license.created', targetId: String(plain.id) });
    expect(plain.key).toMatch(LICENSE_KEY);
    keys.push(plain.key);
    expect(plain).toMatchObject({
      productIds: [8],
      owner: null,
      active: true,
      disabled: false,
      ipLocked: false,
      ips: [],
      expiresAt: null,
      note: null,
      totalChecks: 0,
      lastCheckAt: null,
      lastIp: null,
    });
    expect(Number.isInteger(plain.id)).toBe(true);
    expect(plain.createdAt).toMatch(ISO_TIME);
    expect(Math.abs(Date.parse(plain.createdAt) - Date.now())).toBeLessThan(60_000);
  });

  it('license create: a bundle (order kept), owner, IP lock, canonical IPs, expiry with offset, note', async () => {
    bundle = await ok([
      'license', 'create',
      '--product', '16', '--product', '8', '--product', '17',
      '--owner', 'alice',
      '--ip-lock',
      '--ips', '10.1.2.3/8, 192.168.0.1,::ffff:1.2.3.4,2001:db8::1/32,192.168.0.1',
      '--expires', '2030-01-31T12:00:00+02:00',
      '--note', 'bundle for alice',
    ]);
    changes.push({ action: 'license.created', targetId: String(bundle.id) });
    expect(bundle.key).toMatch(LICENSE_KEY);
    keys.push(bundle.key);
    expect(bundle.key).not.toBe(plain.key);
    expect(bundle.id).not.toBe(plain.id);
    expect(bundle).toMatchObject({
      productIds: [16, 8, 17],
      owner: 'alice',
      active: true,
      disabled: false,
      ipLocked: true,
      // CIDR → network address; IPv4-mapped → IPv4; duplicates dropped; order kept.
      ips: ['10.0.0.0/8', '192.168.0.1', '1.2.3.4', '2001:db8::/32'],
      expiresAt: '2030-01-31T10:00:00.000Z',
      note: 'bundle for alice',
      totalChecks: 0,
    });
  });

  it('license create: human output shows the key once and the key facts', async () => {
    const text = await human(['license', 'create', '--product', '17', '--expires', '2031-06-01', '--note', 'human made']);
    const key = shownKey(text);
    expect(key, text).toMatch(LICENSE_KEY);
    keys.push(key!);
    oldSingleKey = key!;
    const id = Number(/^id:\s+(\d+)$/m.exec(text)?.[1]);
    expect(id).toBeGreaterThan(bundle.id);
    changes.push({ action: 'license.created', targetId: String(id) });
    expect(text).toMatch(/products?:\s+17\b/);
    expect(text).toContain('2031-06-01T00:00:00.000Z');
    expect(text).toContain('human made');
    single = await ok(['license', 'show', String(id)]);
    expect(single).toMatchObject({ id, productIds: [17], expiresAt: '2031-06-01T00:00:00.000Z', note: 'human made' });
  });

  it('license show: every listed field, never the key (JSON and human)', async () => {
    const shown = await ok(['license', 'show', String(bundle.id)]);
    for (const field of LICENSE_FIELDS) expect(shown, field).toHaveProperty(field);
    expect(shown).not.toHaveProperty('key');
    const { key: _key, ...withoutKey } = bundle;
    expect(shown).toEqual(withoutKey);
    expect(JSON.stringify(shown)).not.toContain(bundle.key);

    const text = await human(['license', 'show', String(bundle.id)]);
    expect(text).not.toContain(bundle.key);
    expect(text).toMatch(new RegExp(`^id:\\s+${bundle.id}$`, 'm'));
    expect(text).toMatch(/16, 8, 17/);
    expect(text).toMatch(/owner:\s+alice/);
    expect(text).toContain('10.0.0.0/8');
    expect(text).toContain('2001:db8::/32');
    expect(text).toContain('2030-01-31T10:00:00.000Z');
    expect(text).toContain('bundle for alice');
    expect(text).toMatch(/ip lock:\s+true/i);
  });

  it('license update: each flag changes exactly its field', { timeout: 60_000 }, async () => {
    let current: Json = await ok(['license', 'show', String(plain.id)]);
    const step = async (flags: string[], expected: Json) => {
      const after = await ok(['license', 'update', String(plain.id), ...flags]);
      changes.push({ action: 'license.updated', targetId: String(plain.id) });
      expect(after, flags.join(' ')).not.toHaveProperty('key');
      expect(stable(after), flags.join(' ')).toEqual({ ...stable(current), ...expected });
      expect(Date.parse(after.updatedAt)).toBeGreaterThanOrEqual(Date.parse(current.updatedAt));
      current = after;
    };
    await step(['--active', 'false'], { active: false });
    await step(['--disabled', 'true'], { disabled: true });
    await step(['--ip-lock', 'true'], { ipLocked: true });
    await step(['--ips', '203.0.113.7, 198.51.100.77/24,::ffff:8.8.8.8'], { ips: ['203.0.113.7', '198.51.100.0/24', '8.8.8.8'] });
    await step(['--ip-lock', 'false'], { ipLocked: false });
    await step(['--expires', '2029-05-05T05:05:05Z'], { expiresAt: '2029-05-05T05:05:05.000Z' });
    await step(['--expires', 'never'], { expiresAt: null });
    await step(['--note', 'renewed by phone'], { note: 'renewed by phone' });
    await step(['--ips', ''], { ips: [] });
    await step(['--active', 'true', '--disabled', 'false'], { active: true, disabled: false });

    // The stored state is what the last update printed.
    expect(await ok(['license', 'show', String(plain.id)])).toEqual(current);
    const text = await human(['license', 'update', String(plain.id), '--note', 'human note']);
    changes.push({ action: 'license.updated', targetId: String(plain.id) });
    expect(text).toContain('human note');
    expect(text).not.toContain(plain.key);
    expect(text).toMatch(/active:\s+true/);
    expect(text).toMatch(/disabled:\s+false/);
  });

  it('license regenerate: a new, different key; nothing else changes', async () => {
    const before = await ok(['license', 'show', String(single.id)]);
    const after = await ok(['license', 'regenerate', String(single.id)]);
    changes.push({ action: 'license.regenerated', targetId: String(single.id) });
    expect(after.key).toMatch(LICENSE_KEY);
    expect(after.key).not.toBe(oldSingleKey);
    keys.push(after.key);
    const { key: _k, ...rest } = after;
    expect(stable(rest)).toEqual(stable(before));
    single = after;
    // show still never prints it.
    const shown = await cli(['license', 'show', String(single.id), '--json']);
    expect(shown.stdout).not.toContain(after.key);
    expect(shown.stdout).not.toContain(oldSingleKey);

    const text = await human(['license', 'regenerate', String(plain.id)]);
    changes.push({ action: 'license.regenerated', targetId: String(plain.id) });
    const newKey = shownKey(text);
    expect(newKey, text).toMatch(LICENSE_KEY);
    expect(newKey).not.toBe(plain.key);
    keys.push(newKey!);
    plain = { ...plain, key: newKey };
  });

  it('license delete: {"ok":true}, then show and delete fail', async () => {
    const doomed = await ok(['license', 'create', '--product', '18', '--note', 'to be deleted']);
    changes.push({ action: 'license.created', targetId: String(doomed.id) });
    keys.push(doomed.key);
    expect(await ok(['license', 'delete', String(doomed.id)])).toEqual({ ok: true });
    changes.push({ action: 'license.deleted', targetId: String(doomed.id) });
    const [show, again] = await Promise.all([
      cli(['license', 'show', String(doomed.id), '--json']),
      cli(['license', 'delete', String(doomed.id), '--json']),
    ]);
    expectFailure(show, ['license', 'show', String(doomed.id)], new RegExp(`${doomed.id}`));
    expectFailure(again, ['license', 'delete', String(doomed.id)], new RegExp(`${doomed.id}`));

    const other = await ok(['license', 'create', '--product', '18']);
    changes.push({ action: 'license.created', targetId: String(other.id) });
    keys.push(other.key);
    const text = await human(['license', 'delete', String(other.id)]);
    changes.push({ action: 'license.deleted', targetId: String(other.id) });
    expect(text).toMatch(/deleted/i);
    expect(text).toContain(String(other.id));
    expect(text).not.toContain(other.key);
  });

  it('log list: real checks, newest first, filtered and limited; counters in license show', { timeout: 60_000 }, async () => {
    const srv = await theServer();
    const check = async (path: string, key: string, ua: string) =>
      (await request(srv.url, { method: 'POST', path, headers: { Authorization: key, 'User-Agent': ua } })).json;
    const unknownKey = 'Z'.repeat(45);
    expect(await check('/api/check/8?info=c1', plain.key, 'kw-test/1')).toMatchObject({ status: 'AUTHORISED', pass: true });
    expect(await check('/api/check/16?info=c2', bundle.key, 'kw-test/2')).toMatchObject({ status: 'NOT AUTHORISED', pass: false });
    expect(await check('/api/check/8?info=c3', unknownKey, 'kw-test/3')).toMatchObject({ status: 'NOT FOUND', pass: false });
    expect(await check('/api/check/17?info=c4', oldSingleKey, 'kw-test/4')).toMatchObject({ status: 'NOT FOUND', pass: false });
    expect(await check('/api/check/17?info=c5', single.key, 'kw-test/5')).toMatchObject({ status: 'AUTHORISED', pass: true });
    expect(await check('/api/check/8?info=c6', plain.key, 'kw-test/6')).toMatchObject({ status: 'AUTHORISED', pass: true });
    await srv.flush();

    const [mine, latest, all, shown, text] = await Promise.all([
      ok(['log', 'list', '--license', String(plain.id)]),
      ok(['log', 'list', '--license', String(plain.id), '--limit', '1']),
      ok(['log', 'list', '--limit', '100']),
      ok(['license', 'show', String(plain.id)]),
      human(['log', 'list', '--limit', '3']),
    ]);
    const entry = (info: string, licenseId: number | null, productId: number | null, status: string) => ({
      time: expect.stringMatching(ISO_TIME),
      licenseId,
      productId,
      ip: '127.0.0.1',
      status,
      info,
      userAgent: `kw-test/${info.slice(1)}`,
    });
    expect(mine).toEqual([entry('c6', plain.id, 8, 'AUTHORISED'), entry('c1', plain.id, 8, 'AUTHORISED')]);
    for (const row of mine) expect(Object.keys(row).sort()).toEqual(['info', 'ip', 'licenseId', 'productId', 'status', 'time', 'userAgent']);
    expect(latest).toEqual([mine[0]]);
    expect(all).toEqual([
      entry('c6', plain.id, 8, 'AUTHORISED'),
      entry('c5', single.id, 17, 'AUTHORISED'),
      // An unknown (or replaced) key: no license, but the product asked for.
      entry('c4', null, 17, 'NOT FOUND'),
      entry('c3', null, 8, 'NOT FOUND'),
      entry('c2', bundle.id, 16, 'NOT AUTHORISED'),
      entry('c1', plain.id, 8, 'AUTHORISED'),
    ]);
    const times = all.map((r: Json) => Date.parse(r.time));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(Math.abs(times[0] - Date.now())).toBeLessThan(60_000);
    // No key in the Previous Auths shown to staff.
    for (const key of [...keys, unknownKey]) expect(JSON.stringify(all)).not.toContain(key);

    expect(shown).toMatchObject({ totalChecks: 2, lastIp: '127.0.0.1', lastCheckAt: mine[0].time });

    const lines = text.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toContain('AUTHORISED');
    expect(lines[0]).toContain('c6');
    expect(lines[0]).toContain('127.0.0.1');
    expect(lines[1]).toContain('c5');
    expect(lines[2]).toContain('NOT FOUND');
  });

  it('errors: non-zero exit, one "keyward: " line on stderr, nothing on stdout, no key', { timeout: 60_000 }, async () => {
    const cases: [string[], RegExp][] = [
      [['license', 'show', '987654', '--json'], /987654/],
      [['license', 'regenerate', '987654', '--json'], /987654/],
      [['license', 'delete', '987654', '--json'], /987654/],
      [['license', 'create', '--product', '4242', '--json'], /4242/],
      [['license', 'create', '--product', '8', '--product', '4242', '--json'], /4242/],
      [['license', 'create', '--product', '8', '--ips', '10.0.0.1,not-an-ip', '--json'], /not-an-ip/],
      [['license', 'create', '--product', '8', '--ips', '10.0.0.0/33', '--json'], /10\.0\.0\.0\/33|prefix/i],
      [['license', 'update', String(plain.id), '--ips', '300.1.2.3', '--json'], /300\.1\.2\.3/],
      [['license', 'create', '--product', '8', '--expires', 'next tuesday', '--json'], /next tuesday|date/i],
      [['license', 'create', '--product', '8', '--expires', '2027-13-45', '--json'], /date/i],
      [['license', 'update', String(plain.id), '--expires', 'soon', '--json'], /soon|date/i],
      [['license', 'update', String(plain.id), '--active', 'maybe', '--json'], /true or false|maybe/i],
      [['license', 'create', '--product', '8', '--owner', 'nobody-here', '--json'], /nobody-here/],
      [['product', 'create', '--name', 'Again', '--id', '8', '--json'], /8.*exists|exists.*8/i],
      [['user', 'create', '--username', 'alice', '--password', 'another-pass', '--json'], /alice/],
      [['frobnicate', '--json'], /unknown command/i],
      [['license', 'frobnicate'], /unknown command/i],
      [['license', 'show', 'abc', '--json'], /number/i],
      [['product', 'create', '--name', 'X', '--id', 'eight', '--json'], /number|invalid/i],
      [['log', 'list', '--license', 'abc', '--json'], /number|invalid/i],
    ];
    // Failing commands change nothing, so they can run side by side.
    const results = await Promise.all(cases.map(([args]) => cli(args)));
    cases.forEach(([args, message], i) => expectFailure(results[i]!, args, message));

    // Nothing was changed by any of them.
    expect(await ok(['license', 'show', String(plain.id)])).toMatchObject({ ips: [], expiresAt: null, active: true, note: 'human note' });
    expect((await ok(['product', 'list'])).map((p: Json) => p.name)).toEqual(['Alpha Suite', 'Beta', 'Gamma', 'Delta Pack']);
  });

  // Regression guard (was a bug): commander echoes a rejected option argument verbatim ("option '--license <id>' argument
  // '<the key>' is invalid"), so a key pasted where an id belongs lands on stderr in clear.
  // (`license show <key>` does not echo it: "expected a whole number.")
  it('errors: a key pasted where an id is expected is not echoed on stderr', async () => {
    const key = plain.key;
    const cases = [
      ['log', 'list', '--license', key, '--json'],
      ['license', 'create', '--product', key, '--json'],
    ];
    const results = await Promise.all(cases.map((args) => cli(args)));
    cases.forEach((args, i) => expectFailure(results[i]!, args, /./));
  });

  // Regression guard (was a bug): service validation messages quote the rejected value ('"<value>" is not an ISO 8601
  // date/time', 'user "<value>" does not exist', '"<value>" is not an IPv4/IPv6 address'), so a
  // key pasted into --expires, --owner or --ips is printed in clear on stderr.
  it('errors: a key pasted into --expires / --owner / --ips is not echoed on stderr', async () => {
    const key = plain.key;
    const cases = [
      ['license', 'update', String(plain.id), '--expires', key, '--json'],
      ['license', 'create', '--product', '8', '--owner', key, '--json'],
      ['license', 'update', String(plain.id), '--ips', key, '--json'],
    ];
    const results = await Promise.all(cases.map((args) => cli(args)));
    cases.forEach((args, i) => expectFailure(results[i]!, args, /./));
  });

  it('every change made through the CLI is in the audit log, by "cli:…", and nothing else', async () => {
    const rows = [...(await reposOf(await theServer()).audit.list(10_000))].reverse();
    expect(rows.map((r) => ({ action: r.action, targetId: r.target_id }))).toEqual(changes);
    for (const row of rows) {
      expect(row.actor).toMatch(/^cli:/);
      expect(Math.abs(Number(row.time) - Date.now())).toBeLessThan(5 * 60_000);
    }
    // Before/after of a change record what changed.
    const firstUpdate = rows.find((r) => r.action === 'license.updated')!;
    expect(JSON.parse(firstUpdate.before!)).toMatchObject({ id: plain.id, active: true });
    expect(JSON.parse(firstUpdate.after!)).toMatchObject({ id: plain.id, active: false });
    const created = rows.find((r) => r.action === 'license.created' && r.target_id === String(bundle.id))!;
    expect(JSON.parse(created.after!)).toMatchObject({ productIds: [16, 8, 17], owner: 'alice' });
    // The audit trail holds no key.
    const dump = JSON.stringify(rows);
    for (const key of keys) expect(dump).not.toContain(key);
  });

  // Regression guard (was a PostgreSQL-only bug): an id beyond the int4 range reaches the database, whose raw error comes
  // back: `license show 2147483648` → "keyward: value "2147483648" is out of range for type
  // integer" (SQLite: "license 2147483648 does not exist"), and `log list --license 2147483648`
  // fails the same way instead of printing [].
  it('an id too large for the database is just an unknown license', async () => {
    const [show, update, log] = await Promise.all([
      cli(['license', 'show', '2147483648', '--json']),
      cli(['license', 'update', '999999999999999', '--note', 'x', '--json']),
      cli(['log', 'list', '--license', '2147483648', '--json']),
    ]);
    expectFailure(show, ['license', 'show', '2147483648'], /license 2147483648 does not exist/);
    expectFailure(update, ['license', 'update', '999999999999999'], /license 999999999999999 does not exist/);
    expect(log.stderr).toBe('');
    expect(log.code).toBe(0);
    expect(log.json).toEqual([]);
  });

  // These run after the audit check: with the bugs present they create licenses.

  // Regression guard (was a bug): `license create --expires 2027-02-30` succeeds (exit 0) and stores expiresAt
  // 2027-03-02T00:00:00.000Z: Date.parse rolls an impossible calendar date over instead of the
  // CLI refusing it as a bad date.
  it('errors: an impossible calendar date (2027-02-30) is refused, not rolled over', async () => {
    await fails(['license', 'create', '--product', '8', '--expires', '2027-02-30', '--json'], /2027-02-30|date/i);
  });

  // Regression guard (was a bug): a zone-less time written with a space ("2027-01-31 12:00:00") is read in the process's
  // local time zone (TZ=America/New_York → 2027-01-31T17:00:00.000Z), while the same time with a
  // "T" is read as UTC (12:00:00.000Z). Expected: UTC as well (or a refusal), never TZ-dependent.
  it('license create --expires "YYYY-MM-DD hh:mm:ss" does not depend on the TZ of the CLI process', async () => {
    const res = await runCli({ ...db.env, TZ: 'America/New_York' }, ['license', 'create', '--product', '8', '--expires', '2027-01-31 12:00:00', '--json']);
    if (res.code === 0) {
      keys.push(res.json.key);
      expect(res.json.expiresAt).toBe('2027-01-31T12:00:00.000Z');
    } else {
      expectFailure(res, ['license', 'create'], /date/i);
    }
  });
});
