import http from 'node:http';
import https from 'node:https';
import { PrivateAddressError, publicOnlyLookup, REFUSED_PRIVATE, targetRefusal } from './webhook-target.js';

export interface SendOutcome {
  ok: boolean;
  statusCode: number | null;
  error: string | null;
}

export interface HttpSenderOptions {
  /** WEBHOOK_ALLOW_PRIVATE: also send to private, loopback and link-local addresses. */
  allowPrivate: boolean;
  /** How long one POST may take, until the receiver's status line. */
  timeoutMs: number;
}

/**
 * POSTs webhook bodies over node:http(s) with keep-alive pools of its own. Unless private targets
 * are allowed, a URL written as a private address is refused before connecting and a name is
 * resolved only by `publicOnlyLookup`, so every socket goes to an address that was checked.
 * Redirects are not followed; the receiver's body is not read.
 */
export class HttpSender {
  private readonly agents: { 'http:': http.Agent; 'https:': https.Agent };

  constructor(private readonly options: HttpSenderOptions) {
    const lookup = options.allowPrivate ? undefined : publicOnlyLookup();
    this.agents = { 'http:': new http.Agent({ keepAlive: true, lookup }), 'https:': new https.Agent({ keepAlive: true, lookup }) };
  }

  post(target: string, headers: Record<string, string>, body: string): Promise<SendOutcome> {
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      return Promise.resolve({ ok: false, statusCode: null, error: 'invalid URL' });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return Promise.resolve({ ok: false, statusCode: null, error: 'not an http:// or https:// URL' });
    const refused = targetRefusal(url, this.options.allowPrivate);
    if (refused) return Promise.resolve({ ok: false, statusCode: null, error: refused });
    return new Promise((resolve) => {
      const req = (url.protocol === 'https:' ? https : http).request(
        url,
        {
          method: 'POST',
          agent: this.agents[url.protocol as 'http:' | 'https:'],
          headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
          signal: AbortSignal.timeout(this.options.timeoutMs),
        },
        (res) => {
          res.on('error', () => {});
          res.resume();
          const status = res.statusCode ?? 0;
          const ok = status >= 200 && status < 300;
          resolve({ ok, statusCode: status, error: ok ? null : `HTTP ${status}` });
        },
      );
      req.on('error', (err) => resolve({ ok: false, statusCode: null, error: describe(err) }));
      req.end(body);
    });
  }

  /** Closes the pooled connections. */
  close(): void {
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }
}

function describe(err: unknown): string {
  if (err instanceof PrivateAddressError) return REFUSED_PRIVATE;
  const e = err as { name?: string; code?: string; message?: string; cause?: { name?: string } };
  if (e?.name === 'AbortError' || e?.cause?.name === 'TimeoutError') return 'timed out';
  const text = e?.code ?? e?.message ?? String(err);
  return text.slice(0, 500);
}
