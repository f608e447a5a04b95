import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server.js';
import type { TestDatabase } from './dialects.js';

export interface TestServer extends RunningServer {
  db: TestDatabase;
  /** Creates a product and a license granting it; returns the license's id and clear key. */
  issue(productIds: number[], extra?: Record<string, unknown>): Promise<{ id: number; key: string }>;
  /** Waits until every queued Previous Auths row and counter is in the database. */
  flush(): Promise<void>;
}

/** Starts the real server, in this process, on 127.0.0.1 with a random port. */
export async function startTestServer(db: TestDatabase, env: Record<string, string> = {}): Promise<TestServer> {
  const config = loadConfig(
    { PUBLIC_URL: 'https://license.example.com', ...db.env, HOST: '127.0.0.1', PORT: '0', ...env },
    { dotenv: false },
  );
  const server = await startServer(config, pino({ level: 'silent' }));
  const products = new Set((await server.services.products.list()).map((p) => p.id));
  return {
    ...server,
    db,
    async issue(productIds, extra = {}) {
      for (const id of productIds) {
        if (!products.has(id)) {
          await server.services.products.create({ id, name: `Product ${id}` }, 'test');
          products.add(id);
        }
      }
      const license = await server.services.licenses.create({ productIds, ...extra }, 'test');
      return { id: license.id, key: license.key };
    },
    flush: () => server.writeBehind.flush(),
  };
}

/** A license's clear key as stored (decrypted straight from its row: no reveal, no audit entry). */
export async function storedKey(server: TestServer, id: number): Promise<string> {
  const row = await server.services.repos.licenses.get(id);
  if (!row) throw new Error(`no license ${id}`);
  return server.services.cipher.decrypt(row.key_cipher);
}
