import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { check, KeywardVerificationError, type CheckOptions } from '../src/client/index.js';
import { fakeSigner } from './helpers/answer-signature.js';
import { createSqlite } from './helpers/dialects.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { hasPhp, runNodeSnippet, runPhpSnippet, type SnippetRun } from './helpers/snippets.js';
import { standIns } from './helpers/stand-in-servers.js';
import { PUBLIC_URL } from './helpers/suite.js';
import { startTamperingProxy, withBody, type ProxiedRequest, type TamperingProxy } from './helpers/tampering-proxy.js';

/**
 * A signed answer is bound to what the product asked. The signature covers the method, the path
 * and query, the nonce and the answer body, but not the request body, and a body's `proIds` win
 * over the query's (docs/check-api.md). So a proxy in front of the real server can add a body and
 * get a genuine, correctly signed answer about another product. Every verifier we ship or
 * document (keyward/client and the snippets of docs/signed-answers.md) must refuse it.
 */

/** What a verifier made of an answer: trusted (and what it says), or refused and why. */
type Verdict = { trusted: true; status: string; pass: boolean; proId?: number } | { trusted: false; reason: string };

interface Verifier {
  name: string;
  /** One product id: the single check. A list: the multiple check (the snippets need two ids or more). */
  ask(url: string, productIds: number | number[], key: string, publicKey?: string): Promise<Verdict>;
}

let server: TestServer;
/** The attacker's own, cheaper license: product 16 only. */
let key16: string;
/** A license granting both 8 and 16. */
let key8and16: string;
let raw: string;

beforeAll(async () => {
  server = await startTestServer(await createSqlite());
  await server.issue([8]);
  await server.issue([32]);
  ({ key: key16 } = await server.issue([16]));
  ({ key: key8and16 } = await server.issue([8, 16]));
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

async function proxy(tamper?: (req: ProxiedRequest) => ProxiedRequest): Promise<TamperingProxy> {
  const p = await startTamperingProxy(server.url, tamper);
  proxies.push(p);
  return p;
}

/** What the real server answered through the proxy last (to show the attack reached the verifier). */
const lastAnswer = (p: TamperingProxy): any => JSON.parse(p.answers.at(-1)!.body.toString('utf8'));

const library: Verifier = {
  name: 'keyward/client',
  async ask(url, productIds, key, publicKey = raw) {
    try {
      const r = await check({ url, productId: productIds, key, publicKey });
      return { trusted: true, status: r.status, pass: r.pass, ...(r.proId !== undefined && { proId: r.proId }) };
    } catch (err) {
      if (err instanceof KeywardVerificationError) return { trusted: false, reason: err.message };
      throw err;
    }
  },
};

const snippet = (name: string, run: (args: string[]) => Promise<SnippetRun>): Verifier => ({
  name,
  async ask(url, productIds, key, publicKey = raw) {
    const r = await run([url, typeof productIds === 'number' ? String(productIds) : productIds.join(','), key, publicKey]);
    if (r.code === 2 && r.out?.verified === false) return { trusted: false, reason: r.out.reason };
    if ((r.code === 0 || r.code === 1) && r.out?.verified === true) {
      return { trusted: true, status: r.out.status, pass: r.out.pass, ...(r.out.proId !== undefined && { proId: r.out.proId }) };
    }
    throw new Error(`${name}: unexpected run ${JSON.stringify(r)}`);
  },
});

const verifiers: Verifier[] = [library, snippet('Node snippet', runNodeSnippet)];
if (hasPhp()) verifiers.push(snippet('PHP snippet', runPhpSnippet));
else if (process.env.CI) it('PHP snippet: php-cli with sodium is required in CI', () => expect.fail('php (with sodium) is missing'));
else it.skip('PHP snippet: php is not installed here (install php-cli to run it; CI requires it)', () => {});

const ASKED_FOR_ANOTHER = /did not ask for/;
const NOT_VERIFIED = /does not verify/;

/** The body shapes a proxy can add to ask about product 16 instead (docs/check-api.md: body wins). */
const bodies: [string, (req: ProxiedRequest) => ProxiedRequest][] = [
  ['a form body proIds=16', withBody('proIds=16', 'application/x-www-form-urlencoded')],
  ['a JSON body {"proIds":[16]}', withBody('{"proIds":[16]}', 'application/json')],
  [
    'a body proIds=16 with no content type',
    (req) => {
      const headers = { ...req.headers };
      delete headers['content-type'];
      return { ...req, headers, body: Buffer.from('proIds=16') };
    },
  ],
  [
    "a body with proIds=16 and the product's own nonce copied into it",
    (req) => withBody(`proIds=16&nonce=${new URL(req.url, 'http://x').searchParams.get('nonce')}`, 'application/x-www-form-urlencoded')(req),
  ],
];

describe.each(verifiers)('$name', (verifier) => {
  it('control: through an honest proxy, the multiple check answers about the first asked product the key grants', async () => {
    const p = await proxy();
    expect(await verifier.ask(p.url, [8, 32], key16)).toEqual({ trusted: true, status: 'NOT FOUND', pass: false });
    expect(await verifier.ask(p.url, [8, 16], key16)).toEqual({ trusted: true, status: 'AUTHORISED', pass: true, proId: 16 });
    expect(await verifier.ask(p.url, [32, 16, 8], key8and16)).toEqual({ trusted: true, status: 'AUTHORISED', pass: true, proId: 16 });
  });

  it.each(bodies)('a proxy that adds %s to a multiple check asking for 8 and 32 gets a genuine answer about 16, which is refused', async (_, tamper) => {
    const p = await proxy(tamper);
    const verdict = await verifier.ask(p.url, [8, 32], key16);
    // The server did answer AUTHORISED about product 16, correctly signed: only the verifier stands between it and the product.
    expect(lastAnswer(p)).toMatchObject({ status: 'AUTHORISED', pass: true, proId: 16 });
    expect(verdict).toEqual({ trusted: false, reason: expect.stringMatching(ASKED_FOR_ANOTHER) });
  });

  it('a proxy that adds proIds=16 with a nonce of its own gets an answer signed over that nonce, which is refused', async () => {
    const p = await proxy(withBody('proIds=16&nonce=chosen-by-the-proxy', 'application/x-www-form-urlencoded'));
    expect(await verifier.ask(p.url, [8, 32], key16)).toEqual({ trusted: false, reason: expect.stringMatching(NOT_VERIFIED) });
    expect(lastAnswer(p)).toMatchObject({ status: 'AUTHORISED', proId: 16 });
  });

  it('a body that narrows the asked products changes only which granted product is named, never the status', async () => {
    const p = await proxy(withBody('proIds=16', 'application/x-www-form-urlencoded'));
    // Honestly this is AUTHORISED about 8; the proxy can make it name 16, which was asked for and is granted too.
    expect(await verifier.ask(p.url, [8, 16], key8and16)).toEqual({ trusted: true, status: 'AUTHORISED', pass: true, proId: 16 });
  });

  it('a body naming another product does not change which product a single check checks', async () => {
    for (const tamper of [
      withBody('proIds=16&productId=16&proId=16', 'application/x-www-form-urlencoded'),
      withBody('{"proIds":[16],"productId":16,"proId":16}', 'application/json'),
    ]) {
      const p = await proxy(tamper);
      expect(await verifier.ask(p.url, 8, key16)).toEqual({ trusted: true, status: 'NOT FOUND', pass: false });
      expect(lastAnswer(p)).toEqual({ status: 'NOT FOUND', pass: false, details: `The license key was not found - ${PUBLIC_URL}` });
    }
  });

  it("a proxy that rewrites the path or the query to another product, with the attacker's own key, is refused", async () => {
    const single = await proxy((req) => ({ ...req, url: req.url.replace('/api/check/8', '/api/check/16'), headers: { ...req.headers, authorization: key16 } }));
    expect(await verifier.ask(single.url, 8, 'cracked')).toEqual({ trusted: false, reason: expect.stringMatching(NOT_VERIFIED) });
    expect(lastAnswer(single)).toMatchObject({ status: 'AUTHORISED' });
    const multiple = await proxy((req) => ({ ...req, url: req.url.replace(/proIds=[^&]*/, 'proIds=16') }));
    expect(await verifier.ask(multiple.url, [8, 32], key16)).toEqual({ trusted: false, reason: expect.stringMatching(NOT_VERIFIED) });
    expect(lastAnswer(multiple)).toMatchObject({ status: 'AUTHORISED', proId: 16 });
  });

  it('a correctly signed multiple answer that passes without naming an asked product is refused', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('base64');
    const authorised = { status: 'AUTHORISED', pass: true, details: `Authorisation completed - ${PUBLIC_URL}` };
    // Control: the stand-in's key and an asked proId pass, so only proId decides below.
    expect(await verifier.ask(await stub(privateKey, { ...authorised, proId: 8 }), [8, 32], 'any', pub)).toMatchObject({ trusted: true, proId: 8 });
    for (const body of [authorised, { ...authorised, proId: '8' }, { ...authorised, proId: null }, { ...authorised, proId: 16 }]) {
      expect(await verifier.ask(await stub(privateKey, body), [8, 32], 'any', pub), JSON.stringify(body)).toMatchObject({ trusted: false });
    }
  });
});

describe('keyward/client, multiple check of one product', () => {
  it.each(bodies)('a proxy that adds %s to a check asking for [8] is refused', async (_, tamper) => {
    const p = await proxy(tamper);
    expect(await library.ask(p.url, [8], key16)).toEqual({ trusted: false, reason: expect.stringMatching(ASKED_FOR_ANOTHER) });
    expect(lastAnswer(p)).toMatchObject({ status: 'AUTHORISED', pass: true, proId: 16 });
  });

  it('the V1 check, like the single check, checks the product of its path whatever the body says', async () => {
    const p = await proxy(withBody('{"proIds":[16],"productId":16}', 'application/json'));
    const options: CheckOptions = { url: p.url, productId: 8, key: key16, publicKey: raw, v1: true };
    expect(await check(options)).toMatchObject({ status: 'NOT FOUND', pass: false });
    expect(await check({ ...options, key: key8and16 })).toMatchObject({ status: 'OK', pass: true });
  });
});

/** A stand-in server that signs `body` with its own key, as the real one would (docs/signed-answers.md). */
function stub(privateKey: KeyObject, body: unknown): Promise<string> {
  return stands.listen(fakeSigner(privateKey, { body: JSON.stringify(body) }));
}
