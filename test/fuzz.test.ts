import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { check } from '../src/client/index.js';
import { cli, freePort, startServerProcess, type ServerProcess } from './helpers/cli.js';
import { createSqlite, type TestDatabase } from './helpers/dialects.js';
import { seededRandom } from './helpers/seeded-random.js';

/**
 * Hostile input (docs/threat-model.md, "Hostile traffic and crashes"): 20,000+ generated
 * requests against ONE `keyward serve` process: random methods, paths near and far from the
 * check routes, header sets, content types, bodies (binary, huge, odd encodings), odd
 * Authorization values, and raw-socket requests no HTTP library would send. Afterwards: no 5xx
 * was answered, the process is alive, its memory is back near where it started, and a genuine
 * check still passes and verifies.
 *
 * The run is reproducible: FUZZ_SEED picks the sequence (printed on failure); FUZZ_REQUESTS the count.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20261127);
const TOTAL = Number(process.env.FUZZ_REQUESTS ?? 20_000);
const WORKERS = 8;
const BODY_LIMIT = 64 * 1024;

/** Seeded choices: the same seed makes the same requests. */
function prng(seed: number) {
  const next = seededRandom(seed);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const chance = (p: number) => next() < p;
  const bytes = (n: number) => {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = int(256);
    return b;
  };
  /** Printable latin-1 text (what an HTTP library lets through in a header value). */
  const latin1 = (n: number) => {
    let s = '';
    for (let i = 0; i < n; i++) {
      const c = int(10) === 0 ? 0x80 + int(128) : 0x20 + int(95);
      s += String.fromCharCode(c);
    }
    return s;
  };
  const unicode = (n: number) => {
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCodePoint(pick([0x41 + int(26), 0xe9, 0x2713, 0x1f600, 0xd800 + int(0x400), 0, 0x0a, 0x22, 0x5c, 0x202e]));
    return s;
  };
  return { next, int, pick, chance, bytes, latin1, unicode };
}
type Rng = ReturnType<typeof prng>;

interface Generated {
  kind: 'http' | 'raw';
  /** A GET/POST to one of the three check routes: it must answer 200 (or 413), signed. */
  isCheck?: boolean;
  label: string;
  /** http: */
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: Buffer;
  chunked?: boolean;
  /** raw: the bytes written to a fresh socket. */
  raw?: Buffer;
  /** The server may close the connection before reading everything we send (413, 431, bad framing). */
  mayReset: boolean;
}

let validKey = '';
let apiToken = '';

function generate(r: Rng): Generated {
  if (r.chance(0.06)) return rawRequest(r);
  const method = r.pick(['GET', 'POST', 'POST', 'POST', 'GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'PROPFIND', 'SEARCH', 'M-SEARCH', 'PURGE']);
  const path = genPath(r);
  const headers: Record<string, string> = {};
  if (r.chance(0.8)) headers[r.pick(['authorization', 'Authorization', 'AUTHORIZATION'])] = genAuthorization(r);
  if (r.chance(0.6)) headers['content-type'] = genContentType(r);
  for (let i = r.int(4); i > 0; i--) {
    const [name, value] = r.pick<[string, () => string]>([
      ['x-real-ip', () => r.pick(['203.0.113.9', '::1', '::ffff:1.2.3.4', 'junk', '999.1.1.1', '', r.latin1(40)])],
      ['x-forwarded-for', () => r.pick(['1.1.1.1, 2.2.2.2', ',,,', 'unknown', r.latin1(200)])],
      ['user-agent', () => r.latin1(r.pick([0, 10, 500, 4000]))],
      ['accept', () => r.pick(['*/*', 'application/json', 'text/html', r.latin1(30)])],
      ['accept-encoding', () => r.pick(['gzip', 'br, deflate', 'identity;q=0', r.latin1(10)])],
      ['content-encoding', () => r.pick(['gzip', 'deflate', 'br', 'x-unknown', 'identity'])],
      ['cookie', () => r.pick(['kw_session=abc', `kw_session=${r.latin1(60)}`, '=;=;;', 'a'.repeat(3000)])],
      ['origin', () => r.pick(['http://evil.example', 'null', r.latin1(20)])],
      ['x-csrf-token', () => r.latin1(32)],
      ['idempotency-key', () => r.latin1(r.pick([1, 40, 300]))],
      ['expect', () => r.pick(['100-continue', 'nonsense'])],
      ['range', () => r.pick(['bytes=0-10', 'bytes=-1', 'bytes=a-b'])],
      ['if-none-match', () => r.latin1(20)],
      [`x-${r.int(1000)}`, () => r.latin1(r.int(100))],
    ]);
    headers[name] = value();
  }
  let body: Buffer | undefined;
  let mayReset = false;
  if (method !== 'GET' && method !== 'HEAD' && r.chance(0.75)) {
    body = genBody(r, headers['content-type']);
    mayReset = body.length > BODY_LIMIT;
  }
  if (headers.expect === '100-continue') mayReset = true;
  // Over Node's 16 KiB header limit: the 431 comes from the clientError handler, which cannot know
  // the method (a HEAD then reads its JSON body as garbage) and closes the socket.
  const headerBytes = path.length + Object.entries(headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 0);
  if (headerBytes > 15_000) mayReset = true;
  const chunked = body !== undefined && r.chance(0.15);
  // An unknown Expect is refused by node:http itself (417, unsigned) before any handler runs.
  const isCheck = (method === 'GET' || method === 'POST') && headers.expect === undefined && /^\/api\/(check\/(8|16|multiple)|checkitem\/8)(\?|$)/.test(path);
  return { kind: 'http', label: `${method} ${path.slice(0, 80)}`, method, path, headers, body, chunked, isCheck, mayReset: mayReset || chunked };
}

function genPath(r: Rng): string {
  const segment = () =>
    r.pick([
      '8', '08', '%38', '0', '-1', '8.5', '1e3', '2147483647', '2147483648', '99999999999999999999', 'multiple', 'MULTIPLE', 'Multiple',
      '', '%', '%zz', '%E0%A4%A', '8%00', '%2F8', '..', '.', '8;x', '%EF%BC%98', '8 ', '\u0038'.repeat(3), 'a'.repeat(r.pick([10, 2000])), 'null', '[]', '{}',
    ]);
  const query = () => {
    const parts: string[] = [];
    for (let i = r.int(5); i > 0; i--) {
      parts.push(
        r.pick([
          () => `proIds=${r.pick(['8', '8,16', '[8,16]', '%5B8%2C16%5D', '"8"', '[[[[8]]]]', '-1', 'x', '', '1,'.repeat(300)])}`,
          () => `proIds[]=${r.int(20)}&proIds[]=${r.int(20)}`,
          () => `proIds[${r.int(5)}]=8`,
          () => `info=${encodeURIComponent(r.unicode(r.pick([5, 100, 1500])).replace(/[\uD800-\uDFFF]/g, 'x'))}`,
          () => `info=${r.pick(['%zz', '%', '%00', '%C0%AF', '%ED%A0%80'])}`,
          () => `log=${r.pick(['false', '0', 'no', 'OFF', 'true', '', '%00'])}`,
          () => `nonce=${r.pick(['abc', 'a'.repeat(128), 'b'.repeat(129), '%0A', '%00', '%F0%9F%98%80', ''])}`,
          () => `${r.latin1(8).replace(/[^\w]/g, '')}=${r.int(100)}`,
          () => '&&&==&',
          () => 'a=b&a=c&a[]=d&a[x]=e&__proto__=1&constructor[prototype][x]=1',
        ])(),
      );
    }
    return parts.join('&');
  };
  const near = () => {
    // Half the time a real check route, so odd headers and bodies reach the check itself.
    let p = r.chance(0.5)
      ? r.pick(['/api/check/8', '/api/check/multiple', '/api/checkitem/8', '/api/check/16'])
      : r.pick(['/api/check/', '/api/checkitem/', '/api/check/', '/API/CHECK/', '/api/check//', '//api/check/', '/api/./check/', '/api/check/../check/', '/api/checkitems/', '/api/check%2F']) + segment();
    if (r.chance(0.1)) p += r.pick(['/', '/extra', '//', '/..', '?']);
    if (r.chance(0.6)) p += `?${query()}`;
    if (r.chance(0.03)) p += '#frag';
    return p;
  };
  const far = () =>
    r.pick([
      '/', '/healthz', '/api/public-key', '/metrics', '/login', '/login/totp', '/logout', '/signup', '/setup', '/setup?token=abc', '/account', '/licenses',
      `/licenses/${segment()}`, '/staff', '/staff/licenses', `/staff/licenses/${segment()}`, '/staff/checks?page=-1', '/staff/audit', '/staff/products', '/staff/users',
      '/auth/discord', '/auth/discord/callback?code=x&state=y', '/assets/app.css', '/assets/../../package.json', '/assets/%2e%2e/%2e%2e/package.json', '/assets/',
      '/api/v1/licenses', `/api/v1/licenses/${segment()}`, `/api/v1/licenses?${query()}`, '/api/v1/licenses?limit=-1&cursor=%%%', '/api/v1/products', `/api/v1/products/${segment()}`,
      '/api/v1/users', '/api/v1/checks?from=x&to=y', '/api/v1/audit', '/api/v1/webhooks', '/api/v1/openapi.json', '/api/v1/', '/api/v1', '/api', '/api/',
      '/docs', '/favicon.ico', '/.env', '/data/keyward.db', '/%00', '/%', `/${r.latin1(20).replace(/[^\x21-\x7e]/g, '_').replace(/[?#]/g, '_')}`, `/${'x'.repeat(r.pick([100, 4000, 15000]))}`,
    ]);
  return r.chance(0.55) ? near() : far();
}

function genAuthorization(r: Rng): string {
  return r.pick([
    () => validKey,
    () => `Bearer ${validKey}`,
    () => `license   ${validKey}  `,
    () => `Bearer ${apiToken}`,
    () => `Bearer ${apiToken.slice(0, -1)}x`,
    () => '',
    () => ' ',
    () => 'Bearer',
    () => 'Bearer ',
    () => 'License',
    () => 'Basic dXNlcjpwYXNz',
    () => 'Bearer kw_' + r.latin1(40),
    () => r.latin1(r.pick([1, 45, 200, 2000, 8000])),
    () => 'A'.repeat(45),
    () => '\t' + validKey + '\t',
    () => `${validKey}, ${validKey}`,
    () => 'null',
    () => 'undefined',
    () => "' OR 1=1 --",
  ])();
}

function genContentType(r: Rng): string {
  return r.pick([
    'application/json', 'application/json; charset=utf-8', 'application/json; charset=utf-16', 'application/x-www-form-urlencoded',
    'application/x-www-form-urlencoded; charset=latin1', 'text/plain', 'text/html', 'multipart/form-data; boundary=xyz', 'multipart/form-data',
    'application/octet-stream', 'application/xml', 'foo', '', ';', 'application/json;;;', 'application/vnd.api+json', '*/*', 'application/JSON',
    'application/json; boundary=' + 'b'.repeat(300), r.latin1(50),
  ]);
}

function genBody(r: Rng, contentType: string | undefined): Buffer {
  const json = (v: unknown) => Buffer.from(JSON.stringify(v));
  const nested = (depth: number, open: string, close: string) => Buffer.from(open.repeat(depth) + '8' + close.repeat(depth));
  return r.pick<() => Buffer>([
    () => Buffer.alloc(0),
    () => Buffer.from(' \n\t '),
    () => json({ proIds: [8, 16], info: 'fuzz', log: false, nonce: 'n1' }),
    () => json({ proIds: r.pick(['8,16', [[8]], { a: 8 }, null, -1, 1e308, '[8', Array.from({ length: 500 }, (_, i) => i)]), info: r.pick([null, 1, {}, [], 'x'.repeat(5000), true]), log: r.pick([0, '0', 'off', null, {}]), nonce: r.pick([1, null, 'x'.repeat(300), {}, 'ok']) }),
    () => json({ name: r.unicode(30), productIds: [8], ips: r.latin1(30), expiresAt: r.pick(['2020-02-30', 'never', '9999-12-31T23:59:60Z', 123]), url: 'http://127.0.0.1:1/hook', events: ['*'] }),
    () => json({ __proto__: { polluted: true }, constructor: { prototype: { polluted: true } } }),
    () => Buffer.from('{"__proto__":{"polluted":true},"proIds":[8]}'),
    () => Buffer.from('{"proIds":[8],'),
    () => Buffer.from('{' + '"a":1,'.repeat(5000) + '"b":2}'),
    () => nested(r.pick([100, 5000, 20000]), '[', ']'),
    () => nested(r.pick([100, 5000, 15000]), '{"a":', '}'),
    () => Buffer.from(`proIds=8&proIds=16&info=${encodeURIComponent(r.unicode(20).replace(/[\uD800-\uDFFF]/g, 'x'))}&log=false&nonce=f`),
    () => Buffer.from('proIds[]=8&'.repeat(3000)),
    () => Buffer.from('login=admin&password=' + r.latin1(20).replace(/[&=]/g, '') + '&next=' + r.pick(['/staff', '//evil.example', 'javascript:alert(1)', '/\\evil'])),
    () => Buffer.from('%zz=%zz&%=%&=&&'),
    () => Buffer.from(r.unicode(r.pick([10, 300])), 'utf8'),
    () => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json({ proIds: [8] })]),
    () => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"proIds":[8]}', 'utf16le')]),
    () => Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xff, 0xff]),
    () => Buffer.from('\xc0\xaf\xed\xa0\x80\xf8\x88\x80\x80\x80', 'latin1'),
    () => r.bytes(r.pick([1, 100, 4000, 30_000])),
    () => Buffer.from('--xyz\r\nContent-Disposition: form-data; name="proIds"\r\n\r\n8\r\n--xyz--\r\n'),
    () => Buffer.from('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'),
    // Over BODY_LIMIT: 413 (or the framework's own limit). Rarely megabytes: they cost the run time.
    () => Buffer.alloc(r.chance(0.1) ? 2_000_000 : r.pick([BODY_LIMIT + 1, 100_000, 300_000]), r.pick(['{', 'a', ' '])),
    () => (contentType?.includes('json') ? Buffer.from('null') : Buffer.from('[]')),
  ])();
}

function rawRequest(r: Rng): Generated {
  const CRLF = '\r\n';
  const okKey = validKey;
  const pieces: [string, string | Buffer][] = [
    ['no CRLF at all', 'GET /api/check/8 HTTP/1.1'],
    ['LF only', `GET /api/check/8 HTTP/1.1\nHost: x\nAuthorization: ${okKey}\n\n`],
    ['HTTP/1.0 no Host', `POST /api/check/8 HTTP/1.0${CRLF}Authorization: ${okKey}${CRLF}${CRLF}`],
    ['HTTP/0.9', `GET /api/check/8${CRLF}${CRLF}`],
    ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
    ['HTTP/9.9', `GET /api/check/8 HTTP/9.9${CRLF}Host: x${CRLF}${CRLF}`],
    ['garbage line', Buffer.concat([r.bytes(200), Buffer.from(CRLF + CRLF)])],
    ['binary garbage', r.bytes(r.pick([10, 5000]))],
    ['invalid method', `G\x00T /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}${CRLF}`],
    ['space in path', `GET /api/check/ 8 HTTP/1.1${CRLF}Host: x${CRLF}${CRLF}`],
    ['absolute form', `GET http://127.0.0.1/api/check/8?nonce=a HTTP/1.1${CRLF}Host: x${CRLF}Authorization: ${okKey}${CRLF}${CRLF}`],
    ['asterisk form', `OPTIONS * HTTP/1.1${CRLF}Host: x${CRLF}${CRLF}`],
    ['CONNECT', `CONNECT 127.0.0.1:1 HTTP/1.1${CRLF}Host: 127.0.0.1:1${CRLF}${CRLF}`],
    ['NUL in header', `GET /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}Authorization: ab\x00cd${CRLF}${CRLF}`],
    ['CR in header value', `GET /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}Authorization: ab\rcd${CRLF}${CRLF}`],
    ['obs-fold', `GET /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}Authorization: ab${CRLF} cd${CRLF}${CRLF}`],
    ['header without colon', `GET /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}Authorization${CRLF}${CRLF}`],
    ['space before colon', `GET /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}Authorization : ${okKey}${CRLF}${CRLF}`],
    ['utf-8 header value', Buffer.from(`GET /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}Authorization: ✓${okKey}😀${CRLF}${CRLF}`, 'utf8')],
    ['non-ascii path', Buffer.from(`GET /api/check/８ HTTP/1.1${CRLF}Host: x${CRLF}${CRLF}`, 'utf8')],
    ['huge header', `GET /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}X-Big: ${'a'.repeat(20_000)}${CRLF}${CRLF}`],
    ['many headers', `GET /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}${Array.from({ length: 3000 }, (_, i) => `X-${i}: ${i}`).join(CRLF)}${CRLF}${CRLF}`],
    ['huge URL', `GET /api/check/8?info=${'a'.repeat(30_000)} HTTP/1.1${CRLF}Host: x${CRLF}${CRLF}`],
    ['duplicate Authorization', `GET /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}Authorization: a${CRLF}Authorization: ${okKey}${CRLF}${CRLF}`],
    ['duplicate Content-Length', `POST /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}Content-Length: 2${CRLF}Content-Length: 3${CRLF}${CRLF}{}`],
    ['negative Content-Length', `POST /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}Content-Length: -1${CRLF}${CRLF}`],
    ['non-numeric Content-Length', `POST /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}Content-Length: abc${CRLF}${CRLF}`],
    ['huge Content-Length, short body', `POST /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}Content-Length: 99999999999999999999${CRLF}${CRLF}{}`],
    ['CL + TE (smuggling)', `POST /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}Content-Length: 4${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}0${CRLF}${CRLF}GET /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}${CRLF}`],
    ['TE obfuscated', `POST /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}Transfer-Encoding: xchunked${CRLF}${CRLF}`],
    ['bad chunk size', `POST /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}zz${CRLF}abc${CRLF}0${CRLF}${CRLF}`],
    ['chunk extension', `POST /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}2;x=y${CRLF}{}${CRLF}0${CRLF}${CRLF}`],
    ['pipelined checks', `GET /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}Authorization: ${okKey}${CRLF}${CRLF}`.repeat(20)],
    ['pipelined mixed', `GET /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}${CRLF}POST /api/check/multiple HTTP/1.1${CRLF}Host: x${CRLF}Content-Length: 5${CRLF}${CRLF}{"pro${CRLF}GET /healthz HTTP/1.1${CRLF}Host: x${CRLF}${CRLF}`],
    ['Expect 100-continue, body sent', `POST /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}Expect: 100-continue${CRLF}Content-Length: 2${CRLF}${CRLF}{}`],
    ['Upgrade websocket', `GET /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}Connection: Upgrade${CRLF}Upgrade: websocket${CRLF}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==${CRLF}Sec-WebSocket-Version: 13${CRLF}${CRLF}`],
    ['h2c upgrade', `GET /healthz HTTP/1.1${CRLF}Host: x${CRLF}Connection: Upgrade, HTTP2-Settings${CRLF}Upgrade: h2c${CRLF}HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA${CRLF}${CRLF}`],
    ['cut mid-headers', `GET /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}Authori`],
    ['cut mid-body', `POST /api/check/8 HTTP/1.1${CRLF}Host: x${CRLF}Content-Length: 100${CRLF}${CRLF}{"proIds"`],
  ];
  const [label, data] = r.pick(pieces);
  return { kind: 'raw', label: `raw: ${label}`, raw: Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1'), mayReset: true };
}

interface Outcome {
  label: string;
  statuses: number[];
  signed?: boolean;
  error?: string;
}

let serverUrl = '';
const lastAnswer = new WeakMap<net.Socket, { status: number; connection: string | undefined }>();
const agent = new http.Agent({ keepAlive: true, maxSockets: WORKERS, timeout: 20_000 });

function sendHttp(g: Generated): Promise<Outcome> {
  const { hostname, port } = new URL(serverUrl);
  return new Promise((resolve) => {
    let settled = false;
    const done = (o: Outcome) => {
      if (!settled) {
        settled = true;
        resolve(o);
      }
    };
    let req: http.ClientRequest;
    try {
      const headers: Record<string, string> = { ...g.headers };
      if (g.body && !g.chunked) headers['content-length'] = String(g.body.length);
      if (g.chunked) headers['transfer-encoding'] = 'chunked';
      req = http.request({ host: hostname, port, method: g.method, path: g.path, headers, agent, timeout: 20_000 }, (res) => {
        lastAnswer.set(res.socket, { status: res.statusCode ?? 0, connection: res.headers.connection });
        res.on('data', () => {});
        res.on('end', () => done({ label: g.label, statuses: [res.statusCode ?? 0], signed: typeof res.headers['x-keyward-signature'] === 'string' }));
        res.on('error', (err) => done({ label: g.label, statuses: [res.statusCode ?? 0], error: err.message }));
      });
    } catch (err) {
      // The HTTP library refused to send it (e.g. an invalid character in the path): not our server's doing.
      done({ label: g.label, statuses: [], error: `client refused: ${(err as Error).message}` });
      return;
    }
    let socket: net.Socket | null = null;
    req.on('socket', (s) => {
      previous = lastAnswer.get(s);
      socket = s;
    });
    let previous: { status: number; connection: string | undefined } | undefined;
    req.on('error', (err) => {
      const code = (err as NodeJS.ErrnoException).code ?? err.message;
      // Fastify's default clientError handler answers 400/408/431 without `Connection: close` and
      // then destroys the socket, so a keep-alive client may send its next request into a dead
      // connection. Counted apart; anything else is unexpected.
      const afterClientError = code === 'ECONNRESET' && previous !== undefined && [400, 408, 431].includes(previous.status) && previous.connection === undefined;
      if (socket) lastAnswer.delete(socket);
      done({ label: g.label, statuses: [], error: afterClientError ? 'reset after a clientError answer' : code });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    if (g.body) {
      if (g.chunked) {
        for (let i = 0; i < g.body.length; i += 16_384) req.write(g.body.subarray(i, i + 16_384));
      } else req.write(g.body);
    }
    req.end();
  });
}

function sendRaw(g: Generated): Promise<Outcome> {
  const { hostname, port } = new URL(serverUrl);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    let received = '';
    const finish = (error?: string) => {
      socket.destroy();
      const statuses = [...received.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
      resolve({ label: g.label, statuses, error });
    };
    socket.setTimeout(1000, () => finish());
    socket.on('data', (d) => {
      received += d.toString('latin1');
    });
    socket.on('error', (err) => finish((err as NodeJS.ErrnoException).code));
    socket.on('close', () => finish());
    // Half-close after the bytes: an incomplete request ends at once instead of waiting out a timeout.
    socket.end(g.raw!);
  });
}

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

let db: TestDatabase;
let server: ServerProcess;
let publicKey = '';

beforeAll(async () => {
  db = await createSqlite();
  const ok = (args: string[]) => cli(db.env, args);
  await ok(['product', 'create', '--name', 'Script', '--id', '8']);
  await ok(['product', 'create', '--name', 'Other', '--id', '16']);
  validKey = (await ok(['license', 'create', '--product', '8'])).key;
  // A real token, read scopes only, so authenticated API requests get past auth without changing data.
  apiToken = (await ok(['token', 'create', '--name', 'fuzz', '--scopes', 'licenses:read,products:read,users:read,logs:read,webhooks:read'])).token;
  server = await startServerProcess({ ...db.env, API_RATE_LIMIT: '1000000' }, await freePort(), 'warn');
  serverUrl = server.url;
  publicKey = (await (await fetch(`${server.url}/api/public-key`)).json()).pem;
});
afterAll(async () => {
  agent.destroy();
  await server?.stop('SIGKILL');
  await db?.cleanup();
});

it(`${TOTAL} generated requests: no 5xx, no crash, memory back near baseline, valid checks still pass (seed ${SEED})`, { timeout: 240_000 }, async () => {
  const pid = server.child.pid!;
  const r = prng(SEED);
  const outcomes: Outcome[] = [];
  let issued = 0;
  const timing = new Map<string, number>();
  const checkFaults: string[] = [];
  const run = async (count: number) => {
    const stop = issued + count;
    await Promise.all(
      Array.from({ length: WORKERS }, async () => {
        while (issued < stop) {
          issued++;
          const g = generate(r);
          const t0 = Date.now();
          const outcome = g.kind === 'raw' ? await sendRaw(g) : await sendHttp(g);
          const k = g.kind === 'raw' ? g.label : `${g.method} ${g.path!.split('?')[0]!.slice(0, 30)} ${g.body ? (g.body.length > BODY_LIMIT ? 'big' : 'body') : ''}`;
          timing.set(k, (timing.get(k) ?? 0) + Date.now() - t0);
          if (outcome.error && !g.mayReset && !outcome.error.startsWith('client refused') && outcome.error !== 'reset after a clientError answer') {
            outcome.error = `UNEXPECTED ${outcome.error}`;
            outcome.label += ` ${JSON.stringify(g.headers).slice(0, 300)} body ${g.body?.length ?? 'none'}${g.chunked ? ' chunked' : ''}`;
          }
          if (g.isCheck && !g.mayReset && outcome.statuses.length) {
            const [status] = outcome.statuses;
            if (!((status === 200 || status === 413) && outcome.signed)) checkFaults.push(`${status} signed=${outcome.signed} ${outcome.label} ${JSON.stringify(g.headers).slice(0, 200)}`);
          }
          outcomes.push(outcome);
        }
      }),
    );
  };

  // Warm up (JIT, caches, pools), then take the baseline.
  const started = Date.now();
  await run(1000);
  await new Promise((res) => setTimeout(res, 1000));
  const baseline = rssOf(pid);
  await run(TOTAL - 1000);
  const elapsed = Date.now() - started;

  // Every request was answered below 500, or (raw/oversized ones) closed without one.
  const fiveXx = outcomes.filter((o) => o.statuses.some((s) => s >= 500));
  expect(fiveXx.slice(0, 20), `5xx answers (seed ${SEED})`).toEqual([]);
  const unexpected = outcomes.filter((o) => o.error?.startsWith('UNEXPECTED'));
  expect(unexpected.slice(0, 20), `connection errors on well-formed requests (seed ${SEED})`).toEqual([]);
  expect(checkFaults.slice(0, 10), 'check routes answered other than a signed 200/413').toEqual([]);
  expect(outcomes.length).toBe(TOTAL);
  const answered = outcomes.filter((o) => o.statuses.length > 0).length;
  expect(answered).toBeGreaterThan(TOTAL * 0.9);

  // The process is alive and serving.
  expect(server.child.exitCode).toBeNull();
  expect(server.child.signalCode).toBeNull();
  expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

  // Memory back near the baseline after a pause (V8 keeps some heap; the bound is generous).
  let rss = rssOf(pid);
  for (let i = 0; i < 10 && rss > baseline + 64 * 1024 * 1024; i++) {
    await new Promise((res) => setTimeout(res, 500));
    rss = rssOf(pid);
  }
  expect(rss, `RSS ${Math.round(rss / 2 ** 20)} MiB vs baseline ${Math.round(baseline / 2 ** 20)} MiB`).toBeLessThan(baseline + 150 * 1024 * 1024);

  // Genuine checks still pass and verify, on every endpoint.
  expect(await check({ url: server.url, productId: 8, key: validKey, publicKey })).toMatchObject({ status: 'AUTHORISED', pass: true });
  expect(await check({ url: server.url, productId: [16, 8], key: validKey, publicKey })).toMatchObject({ status: 'AUTHORISED', proId: 8 });
  expect(await check({ url: server.url, productId: 8, v1: true, key: validKey, publicKey })).toMatchObject({ status: 'OK', pass: true });
  expect(await check({ url: server.url, productId: 8, key: 'nope', publicKey })).toMatchObject({ status: 'NOT FOUND', pass: false });

  // Nothing the server logged counts as its own failure.
  const errors = server
    .output()
    .split('\n')
    .filter((line) => /"level":(50|60)/.test(line));
  expect(errors.slice(0, 5), 'error-level log lines').toEqual([]);

  if (process.env.FUZZ_TIMING) console.log(`[fuzz-timing] ${JSON.stringify([...timing].sort((a, b) => b[1] - a[1]).slice(0, 25))}`);
  const byStatus = new Map<number, number>();
  for (const o of outcomes) for (const s of o.statuses) byStatus.set(s, (byStatus.get(s) ?? 0) + 1);
  console.log(
    `[fuzz] ${TOTAL} requests in ${elapsed} ms; statuses ${JSON.stringify(Object.fromEntries([...byStatus].sort((a, b) => a[0] - b[0])))}; ` +
      `closed without answer ${TOTAL - answered} (of which resets after a clientError answer: ${outcomes.filter((o) => o.error === 'reset after a clientError answer').length}); ` +
      `check-route requests ${outcomes.filter((o) => o.signed).length} signed; RSS ${Math.round(baseline / 2 ** 20)} → ${Math.round(rss / 2 ** 20)} MiB`,
  );
});
