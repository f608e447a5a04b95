/** The Discord identity a sign-in resolves to. */
export interface DiscordIdentity {
  id: string;
  username: string;
  globalName: string | null;
}

export interface DiscordSettings {
  clientId: string;
  clientSecret: string;
  authorizeUrl: string;
  tokenUrl: string;
  userUrl: string;
  /** Where Discord sends the browser back: PUBLIC_URL + /auth/discord/callback. */
  redirectUri: string;
}

export class DiscordError extends Error {
  override name = 'DiscordError';
}

/** OAuth2 authorization-code flow against Discord (or any server with its endpoints and shapes). */
export class DiscordClient {
  constructor(private readonly settings: DiscordSettings) {}

  authorizeUrl(state: string): string {
    const url = new URL(this.settings.authorizeUrl);
    url.searchParams.set('client_id', this.settings.clientId);
    url.searchParams.set('redirect_uri', this.settings.redirectUri);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('scope', 'identify');
    url.searchParams.set('state', state);
    url.searchParams.set('prompt', 'none');
    return url.toString();
  }

  /** Trades the callback's code for an access token, then asks who it belongs to. */
  async identify(code: string): Promise<DiscordIdentity> {
    const tokenRes = await this.call(this.settings.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        client_id: this.settings.clientId,
        client_secret: this.settings.clientSecret,
        grant_type: 'authorization_code',
        code,
        redirect_uri: this.settings.redirectUri,
      }).toString(),
    });
    const accessToken = (tokenRes as { access_token?: unknown }).access_token;
    if (typeof accessToken !== 'string' || !accessToken) throw new DiscordError('Discord did not return an access token');
    const user = (await this.call(this.settings.userUrl, {
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
    })) as { id?: unknown; username?: unknown; global_name?: unknown };
    if (typeof user.id !== 'string' || !/^\d{1,32}$/.test(user.id)) throw new DiscordError('Discord returned no user id');
    return {
      id: user.id,
      username: typeof user.username === 'string' ? user.username : `discord-${user.id}`,
      globalName: typeof user.global_name === 'string' ? user.global_name : null,
    };
  }

  private async call(url: string, init: RequestInit): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(10_000) });
    } catch (err) {
      throw new DiscordError(`Discord could not be reached (${(err as Error).name})`);
    }
    if (!res.ok) throw new DiscordError(`Discord answered HTTP ${res.status}`);
    try {
      return await res.json();
    } catch {
      throw new DiscordError('Discord answered with something other than JSON');
    }
  }
}
