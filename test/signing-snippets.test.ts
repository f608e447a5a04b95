import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fakeSigner } from './helpers/answer-signature.js';
import { cli, freePort, ROOT, startServerProcess, type ServerProcess } from './helpers/cli.js';
import { createSqlite, type TestDatabase } from './helpers/dialects.js';
import { hasPhp, NODE_SNIPPET, PHP_SNIPPET, runNodeSnippet, runPhpSnippet, type SnippetRun as Run } from './helpers/snippets.js';
import { forward as forwardTo, reply, standIns } from './helpers/stand-in-servers.js';
import type { ProxiedAnswer } from './helpers/tampering-proxy.js';

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
const stands = standIns();
const listen = stands.listen;
const forward = (req: http.IncomingMessage) => forwardTo(server.url, req);
afterEach(() => stands.closeAll());

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
      let recorded: ProxiedAnswer | null = null;
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
      const url = await listen(fakeSigner(privateKey, { clock: () => Date.now() + offset }));
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
