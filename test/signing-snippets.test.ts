import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cli, freePort, ROOT, startServerProcess, type ServerProcess } from './helpers/cli.js';
import { createSqlite, type TestDatabase } from './helpers/dialects.js';
import { hasPhp, NODE_SNIPPET, PHP_SNIPPET, runNodeSnippet, runPhpSnippet, type SnippetRun as Run } from './helpers/snippets.js';

/**
 * The verification snippets of docs/signed-answers.md are test/snippets/*, run as a seller would
 * run them (`node`, `php`) against a real `keyward serve` process, and against an attacker's
 * stand-ins: a fake server, a tampering proxy, a replaying proxy, a stale date.
 * test/signed-answers.security.test.ts adds the proxies that change the request body.
 */

let db: TestDatabase;
let server: ServerProcess;
let key: string;
let expiredKey: string;
let raw: string;
const opened: http.Server[] = [];

beforeAll(async () => {
  db = await createSqlite();
  const ok = (args: string[]) => cli(db.env, args);
  await ok(['product', 'create', '--name', 'Script', '--id', '8']);
  key = (await ok(['license', 'create', '--product', '8'])).key;
  expiredKey = (await ok(['license', 'create', '--product', '8', '--expires', '2020-01-01'])).key;
  server = await startServerProcess(db.env, await freePort(), 'warn');
  raw = (await (await fetch(`${server.url}/api/public-key`)).json()).raw;
});
afterAll(async () => {
  await server?.stop('SIGTERM');
  await db?.cleanup();
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function listen(handler: http.RequestListener): Promise<string> {
  const s = http.createServer(handler);
  s.keepAliveTimeout = 100;
  opened.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

interface Upstream {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function forward(req: http.IncomingMessage): Promise<Upstream> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const up = http.request({ host: hostname, port, method: req.method, path: req.url, headers: { ...req.headers, host: `${hostname}:${port}` }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    up.on('error', reject);
    req.pipe(up);
  });
}

function reply(res: http.ServerResponse, up: Upstream, body = up.body): void {
  const headers: http.OutgoingHttpHeaders = { ...up.headers, 'content-length': String(body.length), connection: 'close' };
  delete headers['keep-alive'];
  res.writeHead(up.status, headers);
  res.end(body);
}

/** Everything each snippet must get right, for one way of running it. */
function snippetSuite(label: string, exec: (args: string[]) => Promise<Run>): void {
  describe(label, () => {
    it('a genuine AUTHORISED answer: verified, pass, exit 0', async () => {
      const r = await exec([server.url, '8', key, raw]);
      expect(r.out, r.stderr).toEqual({ verified: true, status: 'AUTHORISED', pass: true });
      expect(r.code).toBe(0);
    });

    it('genuine refusals: verified, not pass, exit 1', async () => {
      expect(await exec([server.url, '8', 'no-such-key', raw])).toMatchObject({ code: 1, out: { verified: true, status: 'NOT FOUND', pass: false } });
      expect(await exec([server.url, '8', expiredKey, raw])).toMatchObject({ code: 1, out: { verified: true, status: 'EXPIRED', pass: false } });
      expect(await exec([server.url, '999', key, raw])).toMatchObject({ code: 1, out: { verified: true, status: 'NOT FOUND', pass: false } });
    });

    it('another public key: untrusted, exit 2', async () => {
      const jwk = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
      const other = Buffer.from(jwk.x!, 'base64url').toString('base64');
      expect(await exec([server.url, '8', key, other])).toMatchObject({ code: 2, out: { verified: false } });
    });

    it('a fake server that always says AUTHORISED, unsigned: untrusted', async () => {
      const url = await listen((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
        res.end('{"status":"AUTHORISED","pass":true,"details":"Authorisation completed"}');
      });
      expect(await exec([url, '8', 'cracked', raw])).toMatchObject({ code: 2, out: { verified: false, reason: 'the answer is not signed' } });
    });

    it('a proxy that flips one byte of a genuine answer: untrusted', async () => {
      const url = await listen(async (req, res) => {
        const up = await forward(req);
        const body = Buffer.from(up.body);
        body[20] = body[20]! ^ 0x02;
        reply(res, up, body);
      });
      expect(await exec([url, '8', key, raw])).toMatchObject({ code: 2, out: { verified: false, reason: 'the signature does not verify' } });
    });

    it('a proxy that turns NOT FOUND into AUTHORISED: untrusted', async () => {
      const url = await listen(async (req, res) => {
        const up = await forward(req);
        reply(res, up, Buffer.from(up.body.toString().replace('"NOT FOUND","pass":false', '"AUTHORISED","pass":true')));
      });
      expect(await exec([url, '8', 'cracked', raw])).toMatchObject({ code: 2, out: { verified: false } });
    });

    it('a replayed genuine answer (recorded with its headers): untrusted', async () => {
      let recorded: Upstream | null = null;
      const url = await listen(async (req, res) => {
        if (!recorded) recorded = await forward(req);
        else req.resume();
        reply(res, recorded);
      });
      expect(await exec([url, '8', key, raw])).toMatchObject({ code: 0, out: { verified: true } });
      expect(await exec([url, '8', 'cracked', raw])).toMatchObject({ code: 2, out: { verified: false, reason: 'the signature does not verify' } });
    });

    it('a correctly signed answer dated 6 minutes ago: untrusted', async () => {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('base64');
      let offset = 0;
      const url = await listen((req, res) => {
        req.resume();
        const body = Buffer.from('{"status":"AUTHORISED","pass":true,"details":"ok"}');
        const date = `${new Date(Date.now() + offset).toISOString().slice(0, 19)}Z`;
        const nonce = new URL(req.url!, 'http://x').searchParams.get('nonce') ?? '';
        const msg = `keyward-v1\n${req.method} ${req.url}\n${date}\n${nonce}\n${createHash('sha256').update(body).digest('hex')}`;
        res.writeHead(200, {
          'x-keyward-signature': sign(null, Buffer.from(msg), privateKey).toString('base64'),
          'x-keyward-date': date,
          'x-keyward-key-id': 'fake',
          connection: 'close',
        });
        res.end(body);
      });
      // Control: the stand-in's own key and a current date pass, so only the date decides below.
      expect(await exec([url, '8', 'any', pub])).toMatchObject({ code: 0, out: { verified: true } });
      offset = -6 * 60_000;
      expect(await exec([url, '8', 'any', pub])).toMatchObject({ code: 2, out: { verified: false } });
    });
  });
}

snippetSuite('Node snippet (node:crypto only)', runNodeSnippet);

if (hasPhp()) {
  snippetSuite('PHP snippet (sodium_crypto_sign_verify_detached)', runPhpSnippet);
} else if (process.env.CI) {
  it('PHP snippet: php-cli with sodium is required in CI', () => {
    throw new Error('php (with sodium) is missing; .ci/run installs php-cli');
  });
} else {
  console.warn('[keyward tests] php (with sodium) is not installed: skipping the PHP snippet; CI requires it.');
  it.skip('PHP snippet: php is not installed here (install php-cli to run it; CI requires it)', () => {});
}

describe('docs/signed-answers.md', () => {
  const doc = readFileSync(path.join(ROOT, 'docs', 'signed-answers.md'), 'utf8');
  it.each([
    ['Node', NODE_SNIPPET],
    ['PHP', PHP_SNIPPET],
  ])('shows the tested %s snippet verbatim', (_, file) => {
    expect(doc).toContain(readFileSync(file, 'utf8').trim());
  });
});
