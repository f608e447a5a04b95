import { beforeAll, expect, it } from 'vitest';
import { apiClient, errorOf } from './helpers/api.js';
import { eachDialect } from './helpers/suite.js';

// Read when each server starts; this file runs in its own process.
process.env.API_RATE_LIMIT = '5';

eachDialect('management API: rate limit per token', (server) => {
  const api = apiClient(server);
  let first: string;
  let second: string;

  beforeAll(async () => {
    first = await api.token(['products:read']);
    second = await api.token(['products:read']);
  });

  it('answers 429 in the error shape after API_RATE_LIMIT requests a minute; other tokens are unaffected', async () => {
    for (let i = 0; i < 5; i++) expect((await api.call('GET', '/products', { token: first })).status).toBe(200);
    const limited = await api.call('GET', '/products', { token: first });
    expect(limited.status).toBe(429);
    expect(errorOf(limited).code).toBe('rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await api.call('GET', '/products', { token: second })).status).toBe(200);
  });

  it('counts callers without a token by IP', async () => {
    let last = 0;
    for (let i = 0; i < 6; i++) last = (await api.call('GET', '/products', { token: null })).status;
    expect(last).toBe(429);
  });
});
