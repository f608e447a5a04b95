import { SCOPES } from '../../src/licensing/token-service.js';
import { request, type RawResponse } from './http.js';
import type { TestServer } from './server.js';

export interface CallOptions {
  token?: string | null;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface ApiClient {
  /** One /api/v1 request over a real socket; JSON body when `body` is given. */
  call(method: string, path: string, options?: CallOptions): Promise<RawResponse>;
  /** Creates a token with these scopes ('all' = every scope) and returns its clear value. */
  token(scopes: string | readonly string[] | 'all', name?: string): Promise<string>;
}

let tokenCount = 0;

export function apiClient(server: () => TestServer, defaultToken?: () => string): ApiClient {
  return {
    call(method, path, options = {}) {
      const headers: Record<string, string> = { ...options.headers };
      const token = options.token === undefined ? defaultToken?.() : options.token;
      if (token) headers.authorization = `Bearer ${token}`;
      let body: string | undefined;
      if (options.body !== undefined) {
        body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
        headers['content-type'] ??= 'application/json';
      }
      return request(server().url, { method, path: `/api/v1${path}`, headers, body });
    },
    async token(scopes, name = `test-${++tokenCount}`) {
      const list = scopes === 'all' ? SCOPES : scopes;
      return (await server().services.tokens.create({ name, scopes: list }, 'test')).token;
    },
  };
}

/** Asserts the error shape and returns the body's `error`. */
export function errorOf(res: RawResponse): { code: string; message: string; details?: any } {
  const error = res.json?.error;
  if (!error || typeof error.code !== 'string' || typeof error.message !== 'string') {
    throw new Error(`expected an error body, got ${res.status} ${res.text.slice(0, 300)}`);
  }
  return error;
}
