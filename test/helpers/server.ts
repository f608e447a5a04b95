import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { AuditRepository } from '../../src/storage/audit-repository.js';
import { LicenseRepository } from '../../src/storage/license-repository.js';
import { SessionRepository } from '../../src/storage/session-repository.js';
import { UserRepository } from '../../src/storage/user-repository.js';
import { WebhookRepository } from '../../src/storage/webhook-repository.js';
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

/**
 * Repositories over a running server's database, for tests that set up or read rows directly
 * (the server's routes reach data only through its services).
 */
export function reposOf(server: Pick<RunningServer, 'internal'>) {
  const { db, dialect } = server.internal.storage;
  return {
    licenses: new LicenseRepository(db),
    users: new UserRepository(db),
    sessions: new SessionRepository(db, dialect),
    webhooks: new WebhookRepository(db, dialect),
    audit: new AuditRepository(db),
  };
}

/** A license's clear key as stored (decrypted straight from its row: no reveal, no audit entry). */
export async function storedKey(server: TestServer, id: number): Promise<string> {
  const row = await reposOf(server).licenses.get(id);
  if (!row) throw new Error(`no license ${id}`);
  return server.internal.cipher.decrypt(row.key_cipher);
}
