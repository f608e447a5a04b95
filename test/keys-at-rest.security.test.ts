import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCli, startServerProcess, type CliResult, type ServerProcess } from './helpers/cli.js';
import { describeEachDialect, type TestDatabase } from './helpers/dialects.js';
import { request } from './helpers/http.js';
import { LICENSE_KEY } from './helpers/patterns.js';

/**
 * docs/security.md: keys are stored only as a SHA-256 digest plus an AES-256-GCM ciphertext, and never
 * appear in clear in the database, the server's logs or the CLI's error messages.
 */

const PUBLIC_URL = 'https://license.example.com';

const sha256 = (key: string) => createHash('sha256').update(key, 'utf8').digest('hex');

/**
 * Every way a key could sit in bytes: clear (UTF-8, UTF-16), hex (both cases), and base64 /
 * base64url at each of the three byte alignments it could have inside a longer encoded value
 * (only the characters that depend on the key's bytes alone are kept).
 */
function encodedForms(key: string): { label: string; bytes: Buffer }[] {
  const raw = Buffer.from(key, 'utf8');
  const forms = [
    { label: 'clear', bytes: raw },
    { label: 'utf16le', bytes: Buffer.from(key, 'utf16le') },
    { label: 'hex', bytes: Buffer.from(raw.toString('hex')) },
    { label: 'HEX', bytes: Buffer.from(raw.toString('hex').toUpperCase()) },
  ];
  for (let pad = 0; pad < 3; pad++) {
    const padded = Buffer.concat([Buffer.alloc(pad), raw]);
    for (const enc of ['base64', 'base64url'] as const) {
      const text = padded.toString(enc).replace(/=+$/, '');
      // Skip the first quantum if it mixes padding with key bytes, and the last (partial) one.
      const core = text.slice(pad ? 4 : 0, text.length - 4);
      forms.push({ label: `${enc}+${pad}`, bytes: Buffer.from(core) });
    }
  }
  return forms;
}

/** The names of the encodings of `key` found in `haystack`; empty when none is. */
function leaks(haystack: Buffer, key: string): string[] {
  return encodedForms(key)
    .filter((f) => haystack.includes(f.bytes))
    .map((f) => f.label);
}

describe('the leak detector itself', () => {
  it('finds a key embedded clear, hex or base64 at any alignment, and nothing in unrelated bytes', () => {
    const key = randomBytes(34).toString('base64url').slice(0, 45);
    const raw = Buffer.from(key);
    for (let pad = 0; pad < 5; pad++) {
      const prefix = randomBytes(pad);
      const suffix = randomBytes(pad + 1);
      const inside = Buffer.concat([prefix, raw, suffix]);
      expect(leaks(Buffer.from(`x${inside.toString('base64')}y`), key).length).toBeGreaterThan(0);
      expect(leaks(Buffer.from(`x${inside.toString('base64url')}y`), key).length).toBeGreaterThan(0);
      expect(leaks(Buffer.from(`x${inside.toString('hex')}y`), key)).toContain('hex');
    }
    expect(leaks(Buffer.from(`{"k":"${key}"}`), key)).toContain('clear');
    expect(leaks(randomBytes(100_000), key)).toEqual([]);
    expect(leaks(Buffer.from(sha256(key)), key)).toEqual([]);
  });
});

describeEachDialect('license keys at rest, in logs and in errors ($name)', (create, name) => {

  let db: TestDatabase;
  let server: ServerProcess | undefined;
  /** Keys that work now. */
  const liveKeys: string[] = [];
  /** A key replaced by `license regenerate`. */
  let oldKey: string;
  /** Key-shaped strings that were sent to the server but match no license. */
  const wrongKeys: string[] = [];
  const cli = (args: string[]): Promise<CliResult> => runCli(db.env, args);

  async function ok(args: string[]): Promise<any> {
    const res = await cli([...args, '--json']);
    expect(res.stderr, args.join(' ')).toBe('');
    expect(res.code, args.join(' ')).toBe(0);
    return res.json;
  }

  const allKeys = () => [...liveKeys, oldKey, ...wrongKeys];

  beforeAll(async () => {
    db = await create();
    expect(await ok(['migrate'])).toEqual({ ok: true });
    await ok(['product', 'create', '--name', 'Eight', '--id', '8']);
    await ok(['product', 'create', '--name', 'Sixteen', '--id', '16']);
    await ok(['user', 'create', '--username', 'owner1', '--password', 'owner-password-1']);
    const created = await Promise.all([
      ok(['license', 'create', '--product', '8']),
      ok(['license', 'create', '--product', '16', '--product', '8', '--owner', 'owner1', '--note', 'bundle']),
      ok(['license', 'create', '--product', '16', '--ip-lock', '--ips', '127.0.0.1']),
      ok(['license', 'create', '--product', '8', '--expires', '2020-01-01']),
    ]);
    for (const l of created) expect(l.key).toMatch(LICENSE_KEY);
    const regenerated = await ok(['license', 'regenerate', String(created[0].id)]);
    expect(regenerated.key).toMatch(LICENSE_KEY);
    expect(regenerated.key).not.toBe(created[0].key);
    oldKey = created[0].key;
    liveKeys.push(regenerated.key, ...created.slice(1).map((l) => l.key as string));
    expect(new Set(allKeys()).size).toBe(5);
  });

  afterAll(async () => {
    await server?.stop('SIGKILL');
    await db?.cleanup();
  });

  it('the server (LOG_LEVEL=debug) never logs a key, for valid, replaced and wrong keys alike', async () => {
    server = await startServerProcess({ ...db.env, LOG_LEVEL: 'debug', PUBLIC_URL }, await freePort());
    const url = server.url;
    const [k8, kBundle, kLocked, kExpired] = liveKeys as [string, string, string, string];
    // A near miss of a real key, a random key-shaped string, and a long junk one.
    const nearMiss = k8.slice(0, -1) + (k8.endsWith('A') ? 'B' : 'A');
    const random = randomBytes(34).toString('base64url').slice(0, 45);
    wrongKeys.push(nearMiss, random);

    const statuses: string[] = [];
    const check = async (req: Parameters<typeof request>[1]) => {
      const res = await request(url, req);
      expect(res.status, `${req.path}: ${res.text}`).toBeLessThan(500);
      if (res.json?.status) statuses.push(res.json.status);
      return res;
    };
    expect((await check({ path: '/api/check/8', headers: { Authorization: k8 } })).json.status).toBe('AUTHORISED');
    expect((await check({ path: '/api/check/16', headers: { authorization: `Bearer ${kBundle}` } })).json.status).toBe('AUTHORISED');
    expect((await check({ path: '/api/check/16', headers: { Authorization: kLocked } })).json.status).toBe('AUTHORISED');
    expect((await check({ path: '/api/check/8', headers: { Authorization: kExpired } })).json.status).toBe('EXPIRED');
    expect((await check({ path: '/api/check/8', headers: { Authorization: oldKey } })).json.status).toBe('NOT FOUND');
    expect((await check({ path: '/api/check/8', headers: { Authorization: nearMiss } })).json.status).toBe('NOT FOUND');
    expect((await check({ method: 'GET', path: '/api/checkitem/8?info=v1', headers: { Authorization: ` License ${random} ` } })).json.status).toBe('NOT FOUND');
    expect(
      (
        await check({
          path: '/api/check/multiple',
          headers: { Authorization: kBundle, 'Content-Type': 'application/json' },
          body: JSON.stringify({ proIds: [16, 8], info: 'multi' }),
        })
      ).json,
    ).toMatchObject({ status: 'AUTHORISED', proId: 16 });
    // Unusual requests that may take error paths: bad JSON, an unknown product, a bad URL, an
    // oversized body, an unknown route.
    await check({ path: '/api/check/8', headers: { Authorization: k8, 'Content-Type': 'application/json' }, body: '{"info": ' });
    await check({ path: '/api/check/999', headers: { Authorization: k8 } });
    await check({ path: '/api/check/%zz', headers: { Authorization: k8 } });
    await check({ path: '/api/check/8', headers: { Authorization: kBundle, 'Content-Type': 'text/plain' }, body: 'x'.repeat(200_000) });
    await check({ path: '/nowhere', headers: { Authorization: kBundle } });
    expect(statuses.length).toBeGreaterThanOrEqual(8);

    const code = await server.stop('SIGTERM');
    expect(code).toBe(0);
    const output = server.output();
    // Proof the output was captured at all.
    expect(output).toContain('Keyward is serving');
    const bytes = Buffer.from(output);
    for (const key of allKeys()) expect(leaks(bytes, key), `server output holds a key:\n${output}`).toEqual([]);
  });

  it('the CLI never prints a key on stderr when a command fails', async () => {
    const cases = [
      ['license', 'show', '999999', '--json'],
      ['license', 'update', '999999', '--note', 'x'],
      ['license', 'regenerate', '999999', '--json'],
      ['license', 'delete', '999999'],
      ['license', 'create', '--product', '4242', '--json'],
      ['license', 'update', '1', '--ips', 'nonsense', '--json'],
      ['license', 'update', '1', '--expires', 'whenever'],
      ['license', 'create', '--product', '8', '--owner', 'ghost', '--json'],
      ['license', 'show', 'x1', '--json'],
      ['product', 'create', '--name', 'dup', '--id', '8', '--json'],
    ];
    const results = await Promise.all(cases.map((args) => cli(args)));
    results.forEach((res, i) => {
      const what = `${cases[i]!.join(' ')}: ${res.stderr}`;
      expect(res.code, what).not.toBe(0);
      expect(res.stdout, what).toBe('');
      expect(res.stderr, what).toMatch(/^keyward: [^\n]+\n$/);
      for (const key of allKeys()) expect(leaks(Buffer.from(res.stderr), key), what).toEqual([]);
    });
  });

  if (name === 'sqlite') {
    it('the SQLite file, its -wal and -shm hold no key in any encoding, but every key digest', async () => {
      // Everything is stopped: the CLI processes have exited and the server was stopped above.
      expect(server?.child.exitCode).not.toBeNull();
      const file = db.file!;
      const parts = [file, `${file}-wal`, `${file}-shm`].filter((f) => existsSync(f));
      expect(parts[0]).toBe(file);
      const bytes = Buffer.concat(parts.map((f) => readFileSync(f)));
      expect(bytes.length).toBeGreaterThan(4096);
      for (const key of liveKeys) expect(bytes.includes(Buffer.from(sha256(key))), `digest of ${sha256(key)}`).toBe(true);
      for (const key of allKeys()) expect(leaks(bytes, key), `database bytes hold a key in ${parts.join(', ')}`).toEqual([]);
      // The Previous Auths of the checks above are in this very file too.
      expect(bytes.includes(Buffer.from('multi'))).toBe(true);
    });
  } else {
    it('no text in any column of any table of the PostgreSQL schema holds a key, but every key digest', async () => {
      const client = new pg.Client({ connectionString: db.env.DATABASE_URL });
      await client.connect();
      try {
        const schema = db.schema!;
        const { rows: columns } = await client.query<{ table_name: string; column_name: string }>(
          `select c.table_name, c.column_name
             from information_schema.columns c
             join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
            where c.table_schema = $1 and t.table_type = 'BASE TABLE'
            order by c.table_name, c.ordinal_position`,
          [schema],
        );
        const tables = new Map<string, string[]>();
        for (const c of columns) tables.set(c.table_name, [...(tables.get(c.table_name) ?? []), c.column_name]);
        for (const t of ['licenses', 'license_products', 'auth_logs', 'audit_logs', 'users', 'products']) {
          expect([...tables.keys()]).toContain(t);
        }
        const quote = (id: string) => `"${id.replace(/"/g, '""')}"`;
        const dump: string[] = [];
        for (const [table, cols] of tables) {
          // Every column as text (bytea comes out as hex, json as its text).
          const select = cols.map((c) => `${quote(c)}::text`).join(', ');
          const { rows } = await client.query({ text: `select ${select} from ${quote(schema)}.${quote(table)}`, rowMode: 'array' });
          for (const row of rows as unknown[][]) for (const v of row) if (v !== null) dump.push(`${table}: ${String(v)}`);
        }
        const text = dump.join('\n');
        expect(text).toContain('licenses: ');
        expect(text).toContain('auth_logs: ');
        expect(text).toContain('multi');
        for (const key of liveKeys) expect(text).toContain(sha256(key));
        const bytes = Buffer.from(text);
        for (const key of allKeys()) expect(leaks(bytes, key), 'a PostgreSQL column holds a key').toEqual([]);
      } finally {
        await client.end();
      }
    });
  }
});
