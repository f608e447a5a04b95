import { randomBytes } from 'node:crypto';
import http from 'node:http';

export interface StandInUser {
  id: string;
  username: string;
  global_name?: string | null;
}

/**
 * A stand-in for Discord's OAuth2 endpoints on 127.0.0.1: /authorize redirects back with a code
 * and the state it was given, /token trades a code (once) for an access token after checking
 * the client credentials and redirect_uri, /users/@me says who the token belongs to.
 */
export class OAuthStandIn {
  /** Who the next authorisation signs in as. */
  nextUser: StandInUser = { id: '100000000000000001', username: 'stand-in' };
  /** Answer the token request with this HTTP status instead (to test failures). */
  failToken: number | null = null;
  readonly requests: { path: string; body?: string }[] = [];
  private readonly codes = new Map<string, { user: StandInUser; redirectUri: string }>();
  private readonly tokens = new Map<string, StandInUser>();
  private server!: http.Server;
  url = '';

  constructor(
    readonly clientId = 'test-client-id',
    readonly clientSecret = 'test-client-secret',
  ) {}

  get env(): Record<string, string> {
    return {
      DISCORD_CLIENT_ID: this.clientId,
      DISCORD_CLIENT_SECRET: this.clientSecret,
      DISCORD_AUTHORIZE_URL: `${this.url}/authorize`,
      DISCORD_TOKEN_URL: `${this.url}/token`,
      DISCORD_USER_URL: `${this.url}/users/@me`,
    };
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => this.handle(req, res, body));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, body: string) {
    const url = new URL(req.url ?? '/', this.url);
    this.requests.push({ path: url.pathname, body: body || undefined });
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    if (url.pathname === '/authorize') {
      const q = url.searchParams;
      if (q.get('client_id') !== this.clientId || q.get('response_type') !== 'code' || !q.get('redirect_uri')) return json(400, { error: 'invalid_request' });
      const code = randomBytes(12).toString('hex');
      this.codes.set(code, { user: this.nextUser, redirectUri: q.get('redirect_uri')! });
      const back = new URL(q.get('redirect_uri')!);
      back.searchParams.set('code', code);
      back.searchParams.set('state', q.get('state') ?? '');
      res.writeHead(302, { location: back.toString() });
      return res.end();
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      if (this.failToken) return json(this.failToken, { error: 'server_error' });
      const f = new URLSearchParams(body);
      const grant = this.codes.get(f.get('code') ?? '');
      if (f.get('client_id') !== this.clientId || f.get('client_secret') !== this.clientSecret) return json(401, { error: 'invalid_client' });
      if (!grant || f.get('grant_type') !== 'authorization_code' || f.get('redirect_uri') !== grant.redirectUri) return json(400, { error: 'invalid_grant' });
      this.codes.delete(f.get('code')!);
      const token = randomBytes(16).toString('hex');
      this.tokens.set(token, grant.user);
      return json(200, { access_token: token, token_type: 'Bearer', expires_in: 604800, scope: 'identify' });
    }
    if (url.pathname === '/users/@me') {
      const user = this.tokens.get((req.headers.authorization ?? '').replace(/^Bearer /, ''));
      if (!user) return json(401, { message: '401: Unauthorized' });
      return json(200, { id: user.id, username: user.username, global_name: user.global_name ?? null, avatar: null });
    }
    json(404, { message: 'not found' });
  }
}
