// The ceiling: a bare node:http server that answers each benchmark request with the exact bytes
// Keyward answers it with (captured from Keyward by run.mjs), and does nothing else: no parsing
// beyond the path, no database, no logging. Whatever Keyward does on top of this costs time.
//
//   node bench/bare-server.mjs RULES.json [PORT]
//
// RULES.json: [{ "path": "/api/check/1", "authorization": "KEY" | undefined, "body": "{...}",
//               "headers": { "x-keyward-signature": "...", ... } | undefined }, ...]
// A rule with an authorization only matches that header value; one without matches any. A rule's
// headers (Keyward's signature headers, captured once) are sent as they are, so both servers put
// the same bytes on the wire; the bare server does not sign anything.
// Prints {"port":N} on stdout once it listens (on 127.0.0.1 only).
import { readFileSync } from 'node:fs';
import http from 'node:http';

const [rulesFile, portArg] = process.argv.slice(2);
if (!rulesFile) {
  console.error('usage: node bench/bare-server.mjs RULES.json [PORT]');
  process.exit(2);
}

const anyKey = new Map();
const byKey = new Map();
const JSON_TYPE = 'application/json; charset=utf-8';
for (const rule of JSON.parse(readFileSync(rulesFile, 'utf8'))) {
  const body = Buffer.from(rule.body, 'utf8');
  const answer = { body, headers: { 'content-type': JSON_TYPE, 'content-length': body.length, ...rule.headers } };
  if (rule.authorization === undefined) anyKey.set(rule.path, answer);
  else byKey.set(`${rule.path}\n${rule.authorization}`, answer);
}
const notFoundBody = Buffer.from('{"status":"NOT FOUND","pass":false,"details":"Unknown endpoint"}');
const notFound = { body: notFoundBody, headers: { 'content-type': JSON_TYPE, 'content-length': notFoundBody.length } };

const server = http.createServer((req, res) => {
  // Read the request to its end, as any real server must before it answers.
  req.resume();
  req.on('end', () => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const answer = byKey.get(`${path}\n${req.headers.authorization}`) ?? anyKey.get(path);
    res.writeHead(answer ? 200 : 404, (answer ?? notFound).headers);
    res.end((answer ?? notFound).body);
  });
});

server.listen(Number(portArg ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
