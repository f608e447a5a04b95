import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ProxiedAnswer } from './tampering-proxy.js';

export interface StandIns {
  /** Serves `handler` on 127.0.0.1 until closeAll(); returns its base URL. */
  listen(handler: http.RequestListener): Promise<string>;
  /** Closes every server listen() opened (call it in afterEach). */
  closeAll(): Promise<void>;
}

/** Local HTTP servers a test opens in the place of the real one: fakes, recorders, hand-made proxies. */
export function standIns(): StandIns {
  const opened: http.Server[] = [];
  return {
    async listen(handler) {
      const s = http.createServer(handler);
      s.keepAliveTimeout = 100;
      opened.push(s);
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    },
    async closeAll() {
      await Promise.all(opened.splice(0).map((s) => new Promise((r) => s.close(r))));
    },
  };
}

/** Sends the request on to `upstream` (a real server), optionally rewritten, and returns its answer. */
export function forward(upstream: string, req: http.IncomingMessage, rewrite: { path?: string; authorization?: string } = {}): Promise<ProxiedAnswer> {
  const { hostname, port } = new URL(upstream);
  const headers = { ...req.headers, host: `${hostname}:${port}` };
  if (rewrite.authorization) headers.authorization = rewrite.authorization;
  return new Promise((resolve, reject) => {
    const up = http.request({ host: hostname, port, method: req.method, path: rewrite.path ?? req.url, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    up.on('error', reject);
    req.pipe(up);
  });
}

/** Passes an answer back with its headers, optionally with another body, and ends the connection. */
export function reply(res: http.ServerResponse, up: ProxiedAnswer, body = up.body): void {
  const headers: http.OutgoingHttpHeaders = { ...up.headers, 'content-length': String(body.length), connection: 'close' };
  delete headers['keep-alive'];
  res.writeHead(up.status, headers);
  res.end(body);
}
