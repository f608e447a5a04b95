import { afterAll, beforeAll } from 'vitest';
import { describeEachDialect } from './dialects.js';
import { startTestServer, type TestServer } from './server.js';

export const PUBLIC_URL = 'https://license.example.com';
export const answer = (status: string, pass: boolean, details: string, proId?: number) =>
  proId === undefined ? { status, pass, details: `${details} - ${PUBLIC_URL}` } : { status, pass, details: `${details} - ${PUBLIC_URL}`, proId };
export const AUTHORISED = answer('AUTHORISED', true, 'Authorisation completed');
export const KEY_NOT_FOUND = answer('NOT FOUND', false, 'The license key was not found');
export const PRODUCT_NOT_FOUND = answer('NOT FOUND', false, 'The product could not be found');

/**
 * Runs `body` once per dialect against its own real server (fresh database), so every
 * HTTP suite is one suite parameterised by dialect. `get()` returns the running server.
 */
export function eachDialect(title: string, body: (get: () => TestServer) => void, env: Record<string, string> = {}): void {
  describeEachDialect(`${title} ($name)`, (create) => {
    let server: TestServer | undefined;
    beforeAll(async () => {
      server = await startTestServer(await create(), env);
    });
    afterAll(async () => {
      await server?.close();
      await server?.db.cleanup();
    });
    body(() => server!);
  });
}
