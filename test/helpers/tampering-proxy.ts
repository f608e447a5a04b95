import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request as the proxy received it, or as it passes it on. */
export interface ProxiedRequest {
  method: string;
  /** The request target: path and query. */
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** An answer from the server, passed back byte for byte. */
export interface ProxiedAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface TamperingProxy {
  url: string;
  /** Every answer the server gave through this proxy, oldest first. */
  answers: ProxiedAnswer[];
  close(): Promise<void>;
}

/**
 * An attacker's HTTP proxy on 127.0.0.1 in front of `upstream` (a real server): it reads each whole
 * request, lets `tamper` rewrite it (method, target, headers, body), sends it on and passes the
 * answer back unchanged, headers included.
 */
export async function startTamperingProxy(
  upstream: string,
  tamper: (req: ProxiedRequest) => ProxiedRequest = (req) => req,
): Promise<TamperingProxy> {
  const { hostname, port } = new URL(upstream);
  const answers: ProxiedAnswer[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const sent = tamper({ method: req.method!, url: req.url!, headers: { ...req.headers }, body: Buffer.concat(chunks) });
      const headers: http.OutgoingHttpHeaders = { ...sent.headers, host: `${hostname}:${port}`, 'content-length': String(sent.body.length) };
      delete headers['transfer-encoding'];
      const up = http.request({ host: hostname, port, method: sent.method, path: sent.url, headers, agent: false }, (answer) => {
        const parts: Buffer[] = [];
        answer.on('data', (c: Buffer) => parts.push(c));
        answer.on('end', () => {
          const got: ProxiedAnswer = { status: answer.statusCode!, headers: answer.headers, body: Buffer.concat(parts) };
          answers.push(got);
          const back: http.OutgoingHttpHeaders = { ...got.headers, 'content-length': String(got.body.length), connection: 'close' };
          delete back['keep-alive'];
          res.writeHead(got.status, back);
          res.end(got.body);
        });
      });
      up.on('error', () => res.destroy());
      up.end(sent.body);
    });
  });
  server.keepAliveTimeout = 100;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    answers,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A tamper that gives the request this body (replacing any it had) with this content type. */
export const withBody =
  (body: string, contentType: string) =>
  (req: ProxiedRequest): ProxiedRequest => ({ ...req, headers: { ...req.headers, 'content-type': contentType }, body: Buffer.from(body) });
