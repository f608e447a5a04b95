import { Writable } from 'node:stream';
import pino from 'pino';
import { expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startServer, type RunningServer } from '../src/server.js';
import { describeEachDialect } from './helpers/dialects.js';
import { pageText, WebClient } from './helpers/web-client.js';

/** Starts the real server with a logger whose lines the test reads (the setup URL is printed there). */
async function start(env: Record<string, string>): Promise<{ server: RunningServer; lines: string[] }> {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const config = loadConfig({ ...env, PUBLIC_URL: 'https://license.example.com', HOST: '127.0.0.1', PORT: '0' }, { dotenv: false });
  const server = await startServer(config, pino({ level: 'warn' }, sink));
  return { server, lines };
}

const setupUrlIn = (lines: string[]) => {
  const m = /https:\/\/license\.example\.com(\/setup\?token=[A-Za-z0-9_-]+)/.exec(lines.join('\n'));
  return m ? m[1]! : null;
};

describeEachDialect('first run: the one-time setup URL ($name)', (create) => {

  it('prints a setup URL (and the CLI hint) while no admin exists; the URL creates the first admin once', async () => {
    const db = await create();
    let running = await start(db.env);
    try {
      const messages = running.lines.map((l) => JSON.parse(l).msg as string);
      expect(messages.some((m) => m.includes('npx keyward user create --username admin --role admin'))).toBe(true);
      const path = setupUrlIn(running.lines)!;
      expect(path).not.toBeNull();
      const c = new WebClient(running.server.url, 'https://license.example.com');

      expect((await c.get('/setup?token=not-the-token')).status).toBe(404);
      const form = await c.get(path);
      expect(form.status).toBe(200);
      expect(pageText(form.text)).toContain('Create the first admin');
      const token = new URL(path, 'http://x').searchParams.get('token')!;
      // A mistake does not use the token up.
      const differ = await c.post('/setup', { token, username: 'root-admin', password: 'admin-pass-123', password2: 'other-pass-123' });
      expect(differ.status).toBe(400);
      const short = await c.post('/setup', { token, username: 'root-admin', password: 'short', password2: 'short' });
      expect(short.status).toBe(400);
      expect(pageText(short.text)).toContain('at least 8 characters');
      const done = await c.post('/setup', { token, username: 'root-admin', email: 'root@example.com', password: 'admin-pass-123', password2: 'admin-pass-123' });
      expect(done.status).toBe(303);
      expect(done.location).toBe('/staff');
      expect((await c.get('/staff')).status).toBe(200);
      expect(await running.server.services.users.findByUsername('root-admin')).toMatchObject({ role: 'admin' });

      // Used once: the link is dead, also for a second browser.
      const d = new WebClient(running.server.url);
      expect((await d.get(path)).status).toBe(404);
      await d.get('/login');
      expect((await d.post('/setup', { token, username: 'second-admin', password: 'admin-pass-123', password2: 'admin-pass-123' })).status).toBe(404);
      expect(await running.server.services.users.findByUsername('second-admin')).toBeNull();
      const audit = await running.server.services.logs.audit({ action: 'user.created' });
      expect(audit[0]).toMatchObject({ actor: 'setup' });

      // Next start: an admin exists, so no URL is printed.
      await running.server.close();
      running = await start(db.env);
      expect(setupUrlIn(running.lines)).toBeNull();
    } finally {
      await running.server.close();
      await db.cleanup();
    }
  });

  it('voids printed setup URLs once an admin is made another way (e.g. the CLI)', async () => {
    const db = await create();
    const { server, lines } = await start(db.env);
    try {
      const path = setupUrlIn(lines)!;
      const token = new URL(path, 'http://x').searchParams.get('token')!;
      const stored = await server.internal.storage.db.selectFrom('settings').selectAll().execute();
      // Only a hash of the token is stored.
      expect(stored.filter((r) => r.name.startsWith('setup_token:'))).toHaveLength(1);
      expect(JSON.stringify(stored)).not.toContain(token);
      await server.services.users.create({ username: 'cli-admin', password: 'admin-pass-123', role: 'admin' }, 'cli:root');
      const c = new WebClient(server.url);
      expect((await c.get(path)).status).toBe(404);
      await c.get('/login');
      expect((await c.post('/setup', { token, username: 'late-admin', password: 'admin-pass-123', password2: 'admin-pass-123' })).status).toBe(404);
      const rows = await server.internal.storage.db.selectFrom('settings').select('name').execute();
      expect(rows.filter((r) => r.name.startsWith('setup_token:'))).toHaveLength(0);
    } finally {
      await server.close();
      await db.cleanup();
    }
  });
});
