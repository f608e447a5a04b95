// The ceiling: a bare node:http server that answers each benchmark request with the exact bytes
// Keyward answers it with (captured from Keyward by run.mjs), and does nothing else: no parsing
// beyond the path, no database, no logging. Whatever Keyward does on top of this costs time.
//
//   node bench/bare-server.mjs RULES.json [PORT]
//
// RULES.json: [{ "path": "/api/check/1", "authorization": "KEY" | undefined, "body": "{...}" }, ...]
// A rule with an authorization only matches that header value; one without matches any.
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
for (const rule of JSON.parse(readFileSync(rulesFile, 'utf8'))) {
  const body = Buffer.from(rule.body, 'utf8');
  if (rule.authorization === undefined) anyKey.set(rule.path, body);
  else byKey.set(`${rule.path}\n${rule.authorization}`, body);
}
const notFound = Buffer.from('{"status":"NOT FOUND","pass":false,"details":"Unknown endpoint"}');
const JSON_TYPE = 'application/json; charset=utf-8';

const server = http.createServer((req, res) => {
  // Read the request to its end, as any real server must before it answers.
  req.resume();
  req.on('end', () => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const body = byKey.get(`${path}\n${req.headers.authorization}`) ?? anyKey.get(path);
    res.writeHead(body ? 200 : 404, { 'content-type': JSON_TYPE, 'content-length': (body ?? notFound).length });
    res.end(body ?? notFound);
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
