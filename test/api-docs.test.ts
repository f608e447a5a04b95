import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort, ROOT } from './helpers/cli.js';
import { request } from './helpers/http.js';
import { eachDialect } from './helpers/suite.js';

// Fast webhook polling for the receiver snippet.
const FAST_POLL = { WEBHOOK_POLL_MS: '50' };

const DOC = readFileSync(path.join(ROOT, 'docs', 'api.md'), 'utf8');

/** The first ```js block after `heading` in docs/api.md. */
function snippet(heading: string): string {
  const at = DOC.indexOf(heading);
  if (at === -1) throw new Error(`docs/api.md has no "${heading}"`);
  const m = /```js\n([\s\S]*?)```/.exec(DOC.slice(at));
  if (!m) throw new Error(`no js block after "${heading}"`);
  return m[1]!;
}

function run(file: string, env: Record<string, string>): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [file], { env: { PATH: process.env.PATH, ...env } });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return { child, output: () => out };
}

async function until(done: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The code in docs/api.md, run as a reader would run it, against a real server. */
eachDialect('docs/api.md snippets work as written', (server) => {
  let dir: string;
  let token: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'keyward-docs-'));
    token = (await server().services.tokens.create({ name: 'docs', scopes: ['licenses:write', 'licenses:read'] }, 'test')).token;
    await server().services.products.create({ id: 8, name: 'Premium script' }, 'test');
    await server().services.products.create({ id: 16, name: 'Addon' }, 'test');
  });
  afterAll(() => {
    for (const c of children) c.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the Node receiver verifies real deliveries and refuses forged ones', async () => {
    const port = await freePort();
    const file = path.join(dir, 'receiver.cjs');
    writeFileSync(file, snippet('### Verifying a delivery').replace('.listen(8080)', `.listen(${port}, '127.0.0.1')`));
    const hook = await server().services.webhooks.create({ url: `http://127.0.0.1:${port}/`, events: ['license.created'] }, 'test');
    const receiver = run(file, { KEYWARD_WEBHOOK_SECRET: hook.secret });
    children.push(receiver.child);
    await until(async () => (await request(`http://127.0.0.1:${port}`, { path: '/', body: '{}' }).catch(() => null))?.status === 401, 'the receiver to listen');

    const license = await server().services.licenses.create({ productIds: [8], note: 'docs' }, 'test');
    await until(() => receiver.output().includes('license.created'), 'the receiver to log the event');
    expect(receiver.output()).toContain(`id: ${license.id}`);
    // The outcome is recorded right after the receiver answers.
    await until(async () => (await server().services.webhooks.deliveries(hook.id))[0]?.status === 'delivered', 'the delivery to be recorded');
    const [delivery] = await server().services.webhooks.deliveries(hook.id);
    expect(delivery).toMatchObject({ status: 'delivered', lastStatusCode: 204 });

    const body = '{"id":"x","type":"license.created","data":{}}';
    const ts = Math.floor(Date.now() / 1000);
    const forged = await request(`http://127.0.0.1:${port}`, {
      path: '/',
      headers: { 'x-keyward-timestamp': String(ts), 'x-keyward-webhook-signature': `v1=${createHmac('sha256', 'wrong').update(`${ts}.${body}`).digest('hex')}` },
      body,
    });
    expect(forged.status).toBe(401);
    await server().services.webhooks.delete(hook.id, 'test');
  });

  it('the purchase relay issues one license per order, however often the store retries', async () => {
    const port = await freePort();
    const file = path.join(dir, 'purchase-relay.mjs');
    writeFileSync(file, snippet('### Any store: purchase webhook').replace(".listen(3005, '127.0.0.1')", `.listen(${port}, '127.0.0.1')`));
    const relay = run(file, { KEYWARD_URL: server().url, KEYWARD_TOKEN: token, STORE_WEBHOOK_SECRET: 'store-secret' });
    children.push(relay.child);
    const order = JSON.stringify({ id: 'A-1001', sku: 'bundle', email: 'buyer@example.com' });
    const send = (body: string, secret = 'store-secret') =>
      request(`http://127.0.0.1:${port}`, { path: '/', headers: { 'x-store-signature': createHmac('sha256', secret).update(body).digest('hex') }, body });
    await until(async () => (await send('{}', 'wrong').catch(() => null))?.status === 401, 'the relay to listen');

    const answers = await Promise.all([send(order), send(order), send(order)]);
    expect(answers.map((a) => a.status), relay.output()).toEqual([200, 200, 200]);
    expect(new Set(answers.map((a) => a.json.licenseId)).size).toBe(1);
    const license = await server().services.licenses.show(answers[0]!.json.licenseId);
    expect(license).toMatchObject({ productIds: [8, 16], note: 'order A-1001 (buyer@example.com)' });
    expect((await send(JSON.stringify({ id: 'A-1002', sku: 'stickers' }))).status).toBe(204);
  });

  it('the FaxStore extension issues a license for each licensed item bought', async () => {
    const extensions = path.join(dir, 'faxstore', 'extensions');
    mkdirSync(path.join(extensions, 'configs'), { recursive: true });
    const config = /```json\n([\s\S]*?)```/.exec(DOC.slice(DOC.indexOf('### FaxStore extension')))![1]!;
    const parsed = JSON.parse(config);
    parsed.keywardUrl = server().url;
    parsed.token = token;
    writeFileSync(path.join(extensions, 'configs', 'keyward-licenses-config.json'), JSON.stringify(parsed));
    const file = path.join(extensions, `keyward-licenses-${server().db.dialect}.js`);
    writeFileSync(file, snippet('### FaxStore extension'));

    // A stand-in for FaxStore's global event bus.
    const faxstore = new EventEmitter();
    const emitted: unknown[][] = [];
    const emit = faxstore.emit.bind(faxstore);
    faxstore.emit = (name: string, ...args: unknown[]) => {
      emitted.push([name, ...args]);
      return emit(name, ...args);
    };
    (globalThis as any).faxstore = faxstore;
    createRequire(import.meta.url)(file);

    const order = { id: 5001, userId: 'u-77', items: [{ id: 8, name: 'Premium script' }, { id: 999, name: 'T-shirt' }] };
    faxstore.emit('purchaseCompleted', order);
    faxstore.emit('purchaseCompleted', order); // FaxStore fired twice: still one license
    await until(() => emitted.filter((e) => e[0] === 'CreateAuditLog').length >= 2, 'the extension to finish');
    const notes = emitted.filter((e) => e[0] === 'pushNotification');
    expect(notes).toHaveLength(2);
    expect(notes[0]![2]).toMatch(/^Your license key for Premium script: [A-Za-z0-9_-]{45}$/);
    expect(notes[1]![2]).toBe(notes[0]![2]);
    const issued = (await server().services.licenses.list({ limit: 1000 })).filter((l) => l.note === 'FaxStore order 5001 for u-77');
    expect(issued).toHaveLength(1);
    expect(issued[0]!.productIds).toEqual([8]);
  });
}, FAST_POLL);
