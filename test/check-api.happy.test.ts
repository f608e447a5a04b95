import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialects } from './helpers/dialects.js';
import { request } from './helpers/http.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const AUTHORISED = { status: 'AUTHORISED', pass: true, details: 'Authorisation completed - https://license.example.com' };

describe.each(dialects())('check API, happy paths ($name)', ({ name, create }) => {
  if (!create) {
    it.skip(`${name} is not available here`, () => {});
    return;
  }
  let server: TestServer;
  let key: string;

  beforeAll(async () => {
    server = await startTestServer(await create());
    ({ key } = await server.issue([8]));
  });
  afterAll(async () => {
    await server?.close();
    await server?.db.cleanup();
  });

  it('answers AUTHORISED to a raw Authorization header', async () => {
    const res = await request(server.url, { path: '/api/check/8', headers: { Authorization: key } });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.json).toEqual(AUTHORISED);
  });
});
