/**
 * A small browser stand-in for dashboard tests: keeps cookies, reads the CSRF token from each
 * page, sends forms, and follows redirects only when asked, so tests see every 303.
 */
export interface WebResponse {
  status: number;
  headers: Headers;
  /** The Location header, made relative to the server when it points at it. */
  location: string | null;
  text: string;
  setCookies: string[];
}

export type Fields = Record<string, string | number | boolean | readonly (string | number)[] | undefined>;

export class WebClient {
  readonly cookies = new Map<string, string>();
  /** The CSRF token of the last HTML page fetched. */
  csrf = '';
  last: WebResponse | null = null;

  constructor(
    readonly base: string,
    /** Absolute URLs at this origin (PUBLIC_URL) are sent to `base` instead. */
    readonly publicUrl?: string,
  ) {}

  async get(path: string, headers: Record<string, string> = {}): Promise<WebResponse> {
    return this.send('GET', path, undefined, headers);
  }

  /** Posts a form; the CSRF token of the last page is added unless `csrf` is given (false: none). */
  async post(path: string, fields: Fields = {}, opts: { csrf?: string | false; headers?: Record<string, string> } = {}): Promise<WebResponse> {
    const body = new URLSearchParams();
    const token = opts.csrf === undefined ? this.csrf : opts.csrf;
    if (token !== false && token !== '') body.set('_csrf', token);
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [v]) body.append(k, String(one));
    }
    return this.send('POST', path, body.toString(), { 'content-type': 'application/x-www-form-urlencoded', ...(opts.headers ?? {}) });
  }

  /** Follows redirects (GET) from a response until a non-redirect answer. */
  async follow(res: WebResponse, max = 6): Promise<WebResponse> {
    let current = res;
    for (let i = 0; i < max && current.status >= 300 && current.status < 400 && current.location; i++) {
      current = await this.get(current.location);
    }
    return current;
  }

  /** Opens the page holding a form, then posts it (the realistic order: the token comes from that page). */
  async submit(pagePath: string, action: string, fields: Fields = {}): Promise<WebResponse> {
    await this.get(pagePath);
    return this.post(action, fields);
  }

  async signIn(login: string, password: string): Promise<WebResponse> {
    await this.get('/login');
    return this.post('/login', { login, password });
  }

  private async send(method: string, path: string, body: string | undefined, headers: Record<string, string>): Promise<WebResponse> {
    const url = this.resolve(path);
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, {
      method,
      body,
      redirect: 'manual',
      headers: { ...(cookie ? { cookie } : {}), 'user-agent': 'keyward-test-client', ...headers },
    });
    const setCookies = res.headers.getSetCookie();
    for (const line of setCookies) this.store(line);
    const text = await res.text();
    const meta = /<meta name="csrf-token" content="([^"]+)">/.exec(text);
    if (meta) this.csrf = meta[1]!;
    const raw = res.headers.get('location');
    const out: WebResponse = { status: res.status, headers: res.headers, location: raw === null ? null : this.relative(raw), text, setCookies };
    this.last = out;
    return out;
  }

  private resolve(path: string): string {
    if (/^https?:\/\//.test(path)) {
      const u = new URL(path);
      if (this.publicUrl && u.origin === new URL(this.publicUrl).origin) return `${this.base}${u.pathname}${u.search}`;
      return path;
    }
    return `${this.base}${path}`;
  }

  private relative(location: string): string {
    if (!/^https?:\/\//.test(location)) return location;
    const u = new URL(location);
    if (u.origin === new URL(this.base).origin || (this.publicUrl && u.origin === new URL(this.publicUrl).origin)) return `${u.pathname}${u.search}`;
    return location;
  }

  private store(line: string): void {
    const [pair, ...attrs] = line.split(';');
    const eq = pair!.indexOf('=');
    const name = pair!.slice(0, eq).trim();
    const value = pair!.slice(eq + 1).trim();
    const expired = attrs.some((a) => {
      const [k, v] = a.trim().split('=');
      if (k!.toLowerCase() === 'max-age') return Number(v) <= 0;
      if (k!.toLowerCase() === 'expires') return Date.parse(v ?? '') <= Date.now();
      return false;
    });
    if (expired || value === '') this.cookies.delete(name);
    else this.cookies.set(name, value);
  }
}

/** The attributes of the Set-Cookie line for `name` (lower-cased keys), or null. */
export function cookieAttributes(setCookies: readonly string[], name: string): Map<string, string> | null {
  const line = setCookies.find((l) => l.startsWith(`${name}=`));
  if (!line) return null;
  const map = new Map<string, string>();
  for (const part of line.split(';').slice(1)) {
    const [k, v = ''] = part.trim().split('=');
    map.set(k!.toLowerCase(), v);
  }
  return map;
}

/** Text content of the page without tags (for "the page says …" assertions). */
export const pageText = (html: string): string =>
  html
    .replace(/<script[\s\S]*?<\/script>/g, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/\s+/g, ' ');
