import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers/cli.js';
import { createSqlite } from './helpers/dialects.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import {
  hasPhpCurl,
  NODE_CLIENT_SNIPPET,
  NODE_FINGERPRINT_SNIPPET,
  PHP_CLIENT_SNIPPET,
  PHP_FINGERPRINT_SNIPPET,
  runSnippet,
  type SnippetRun as Run,
} from './helpers/snippets.js';
import { forward, reply, standIns } from './helpers/stand-in-servers.js';
import { startTamperingProxy, type ProxiedAnswer, type ProxiedRequest, type TamperingProxy } from './helpers/tampering-proxy.js';

/**
 * The machine snippets of docs/check-api.md (send-fingerprint: validate with this machine's
 * fingerprint) and docs/signed-answers.md (verify-client-answer: a client endpoint's version 2
 * signature), run as a seller would run them (`node`, `php`) against the real server, and the
 * verifiers against a proxy that swaps the fingerprint, a tampered or replayed answer, a fake server.
 */

let server: TestServer;
let raw: string;
let twoSeats: number;

beforeAll(async () => {
  server = await startTestServer(await createSqlite());
  await server.issue([8]);
  twoSeats = (await server.services.policies.create({ name: 'Two seats', productIds: [8], maxMachines: 2 }, 'test')).id;
  raw = (await (await fetch(`${server.url}/api/public-key`)).json()).raw;
});
afterAll(async () => {
  await server?.close();
  await server?.db.cleanup();
});
const proxies: TamperingProxy[] = [];
const stands = standIns();
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  await stands.closeAll();
});

const issue = async () => (await server.services.licenses.create({ policyId: twoSeats }, 'test')) as { id: number; key: string };

async function proxy(tamper: (req: ProxiedRequest) => ProxiedRequest): Promise<string> {
  const p = await startTamperingProxy(server.url, tamper);
  proxies.push(p);
  return p.url;
}

function fingerprintSuite(label: string, exec: (args: string[]) => Promise<Run>): void {
  describe(`${label}: send-fingerprint`, () => {
    it('each machine takes a slot until the license is full; a known machine keeps passing', async () => {
      const { id, key } = await issue();
      expect(await exec([server.url, '8', key, 'box-1'])).toMatchObject({ code: 0, out: { status: 'AUTHORISED', pass: true, machine: 'box-1' } });
      expect(await exec([server.url, '8', key, 'box-2'])).toMatchObject({ code: 0, out: { status: 'AUTHORISED', pass: true, machine: 'box-2' } });
      expect(await exec([server.url, '8', key, 'box-3'])).toMatchObject({ code: 1, out: { status: 'TOO MANY MACHINES', pass: false, machine: null } });
      expect(await exec([server.url, '8', key, 'box-1'])).toMatchObject({ code: 0, out: { status: 'AUTHORISED', machine: 'box-1', machines: 2 } });
      const { machines } = await server.services.machines.list(id);
      expect(machines.map((m) => [m.fingerprint, m.name])).toEqual([
        ['box-1', os.hostname()],
        ['box-2', os.hostname()],
      ]);
    });

    it("without a fingerprint argument it sends this machine's own: a SHA-256, the same on every run", async () => {
      const { key } = await issue();
      const first = await exec([server.url, '8', key]);
      expect(first, first.stderr).toMatchObject({ code: 0, out: { status: 'AUTHORISED', pass: true } });
      expect(first.out.machine).toMatch(/^[0-9a-f]{64}$/);
      expect((await exec([server.url, '8', key])).out.machine).toBe(first.out.machine);
    });

    it('refusals: unknown key, unknown product; no server: exit 3', async () => {
      expect(await exec([server.url, '8', 'no-such-key', 'box'])).toMatchObject({ code: 1, out: { status: 'NOT FOUND', pass: false } });
      const { key } = await issue();
      expect(await exec([server.url, '999', key, 'box'])).toMatchObject({ code: 1, out: { status: 'NOT FOUND', pass: false } });
      const closed = await stands.listen((req) => req.socket.destroy());
      expect(await exec([closed, '8', key, 'box'])).toMatchObject({ code: 3, out: { status: 'UNREACHABLE', pass: false } });
    });
  });
}

function verifierSuite(label: string, exec: (args: string[]) => Promise<Run>): void {
  describe(`${label}: verify-client-answer`, () => {
    it('activate, validate, heartbeat, deactivate: verified, with their statuses and exit codes', async () => {
      const { key } = await issue();
      const call = (endpoint: string, fp = 'pc-1', url = server.url) => exec([url, endpoint, '8', key, raw, fp]);
      expect(await call('activate')).toMatchObject({ code: 0, out: { verified: true, status: 'ACTIVATED', pass: true, machine: 'pc-1' } });
      expect(await call('activate')).toMatchObject({ code: 0, out: { verified: true, status: 'ALREADY ACTIVATED' } });
      expect(await call('validate')).toMatchObject({ code: 0, out: { verified: true, status: 'AUTHORISED', machine: 'pc-1' } });
      expect(await call('heartbeat')).toMatchObject({ code: 0, out: { verified: true, status: 'ALIVE' } });
      expect(await call('deactivate')).toMatchObject({ code: 0, out: { verified: true, status: 'DEACTIVATED' } });
      expect(await call('heartbeat')).toMatchObject({ code: 1, out: { verified: true, status: 'NOT ACTIVATED', pass: false, machine: null } });
      expect(await exec([server.url, 'validate', '8', key, raw])).toMatchObject({ code: 1, out: { verified: true, status: 'FINGERPRINT REQUIRED' } });
    });

    it('a proxy that swaps the fingerprint in the body for an activated machine: untrusted', async () => {
      const { key } = await issue();
      expect((await exec([server.url, 'activate', '8', key, raw, 'paid-box'])).out.status).toBe('ACTIVATED');
      const url = await proxy((req) => ({ ...req, body: Buffer.from(req.body.toString('utf8').replace('"second-box"', '"paid-box"')) }));
      expect(await exec([url, 'validate', '8', key, raw, 'second-box'])).toMatchObject({ code: 2, out: { verified: false, reason: 'the signature does not verify' } });
      // Control: the same proxy passes an untouched request through.
      expect(await exec([url, 'validate', '8', key, raw, 'paid-box'])).toMatchObject({ code: 0, out: { verified: true, status: 'AUTHORISED' } });
    });

    it('a proxy that flips one byte of a genuine answer, and a replayed answer: untrusted', async () => {
      const { key } = await issue();
      const flipped = await stands.listen(async (req, res) => {
        const up = await forward(server.url, req);
        const body = Buffer.from(up.body);
        body[14] = body[14]! ^ 0x01;
        reply(res, up, body);
      });
      expect(await exec([flipped, 'validate', '8', key, raw, 'a'])).toMatchObject({ code: 2, out: { verified: false } });
      let recorded: ProxiedAnswer | null = null;
      const replaying = await stands.listen(async (req, res) => {
        if (!recorded) recorded = await forward(server.url, req);
        else req.resume();
        reply(res, recorded);
      });
      expect(await exec([replaying, 'validate', '8', key, raw, 'a'])).toMatchObject({ code: 0, out: { verified: true } });
      expect(await exec([replaying, 'validate', '8', key, raw, 'a'])).toMatchObject({ code: 2, out: { verified: false, reason: 'the signature does not verify' } });
    });

    it('an unsigned fake server, and another public key: untrusted', async () => {
      const fake = await stands.listen((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
        res.end('{"status":"ACTIVATED","pass":true,"details":"Machine activated","machine":null}');
      });
      expect(await exec([fake, 'activate', '8', 'cracked', raw, 'a'])).toMatchObject({ code: 2, out: { verified: false, reason: 'the answer is not signed' } });
      const other = Buffer.from(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('base64');
      const { key } = await issue();
      expect(await exec([server.url, 'validate', '8', key, other, 'a'])).toMatchObject({ code: 2, out: { verified: false } });
    });
  });
}

fingerprintSuite('Node (fetch)', (args) => runSnippet(process.execPath, [NODE_FINGERPRINT_SNIPPET, ...args]));
verifierSuite('Node (node:crypto)', (args) => runSnippet(process.execPath, [NODE_CLIENT_SNIPPET, ...args]));

if (hasPhpCurl()) {
  fingerprintSuite('PHP (curl)', (args) => runSnippet('php', [PHP_FINGERPRINT_SNIPPET, ...args]));
  verifierSuite('PHP (curl, sodium)', (args) => runSnippet('php', [PHP_CLIENT_SNIPPET, ...args]));
} else if (process.env.CI) {
  it('PHP machine snippets: php-cli with curl and sodium is required in CI', () => {
    throw new Error('php (with curl and sodium) is missing; .ci/run installs php-cli and php-curl');
  });
} else {
  console.warn('[keyward tests] php with curl and sodium is not installed: skipping the PHP machine snippets; CI requires them.');
  it.skip('PHP machine snippets: php with curl is not installed here (install php-cli and php-curl; CI requires them)', () => {});
}

describe('the docs show the tested snippets verbatim', () => {
  const doc = (name: string) => readFileSync(path.join(ROOT, 'docs', name), 'utf8');
  it.each([
    ['check-api.md', NODE_FINGERPRINT_SNIPPET],
    ['check-api.md', PHP_FINGERPRINT_SNIPPET],
    ['signed-answers.md', NODE_CLIENT_SNIPPET],
    ['signed-answers.md', PHP_CLIENT_SNIPPET],
  ])('%s shows %s', (name, file) => {
    expect(doc(name)).toContain(readFileSync(file, 'utf8').trim());
  });
});
