import { beforeAll, expect, it } from 'vitest';
import { LIMITS } from '../src/licensing/schemas/limits.js';
import { apiClient, errorOf } from './helpers/api.js';
import { runCli } from './helpers/cli.js';
import { signedIn } from './helpers/dashboard.js';
import { eachDialect } from './helpers/suite.js';
import { pageText, type WebClient } from './helpers/web-client.js';

const LONG_NOTE = 'n'.repeat(LIMITS.license.note + 1);

/** One limit, declared once, refused alike by the API, the dashboard and the CLI, each naming the field and the limit. */
eachDialect('limits: every surface refuses the same input, naming the field and the limit', (server) => {
  const api = apiClient(server);
  let token: string;
  let staff: WebClient;

  beforeAll(async () => {
    token = await api.token('all', 'limits');
    staff = await signedIn(server(), 'limits-staff', 'admin');
    await server().issue([8]);
  });

  it('a note one character over the limit', async () => {
    const res = await api.call('POST', '/licenses', { token, body: { productIds: [8], note: LONG_NOTE } });
    expect(res.status).toBe(400);
    const error = errorOf(res);
    expect(error.code).toBe('invalid_input');
    expect(error.message).toBe('invalid body: note must not have more than 1000 characters');
    expect(error.details).toEqual([{ in: 'body', field: 'note', message: 'must not have more than 1000 characters' }]);

    const form = await staff.post('/staff/licenses', { productIds: '8', note: LONG_NOTE });
    expect(pageText((await staff.follow(form)).text)).toContain('note is at most 1000 characters');

    const cli = await runCli(server().db.env, ['license', 'create', '--product', '8', '--note', LONG_NOTE, '--json']);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toBe('keyward: note is at most 1000 characters\n');

    // The service is the gate for callers with no schema of their own (imports, scripts).
    await expect(server().services.licenses.create({ productIds: [8], note: LONG_NOTE }, 'test')).rejects.toMatchObject({
      code: 'invalid_input',
      message: 'note is at most 1000 characters',
    });
    // Exactly at the limit is accepted.
    expect((await server().services.licenses.create({ productIds: [8], note: LONG_NOTE.slice(1) }, 'test')).note).toHaveLength(1000);
  });

  it('a password under the minimum, and a username with a character it may not hold', async () => {
    const short = await api.call('POST', '/users', { token, body: { username: 'limits-a', password: 'short' } });
    expect(errorOf(short).details).toEqual([{ in: 'body', field: 'password', message: 'must not have fewer than 8 characters' }]);
    const odd = await api.call('POST', '/users', { token, body: { username: 'a b' } });
    expect(errorOf(odd).message).toBe('invalid body: username may hold only letters, digits, "_", "." and "-"');

    const form = await staff.post('/staff/users', { username: 'limits-b', password: 'short' });
    expect(pageText((await staff.follow(form)).text)).toContain('password is at least 8 characters');
    const cli = await runCli(server().db.env, ['user', 'create', '--username', 'a b', '--json']);
    expect(cli.stderr).toBe('keyward: username may hold only letters, digits, "_", "." and "-"\n');
  });

  it('a product name over the limit', async () => {
    const name = 'p'.repeat(LIMITS.product.name + 1);
    const res = await api.call('POST', '/products', { token, body: { name } });
    expect(errorOf(res).details).toEqual([{ in: 'body', field: 'name', message: 'must not have more than 200 characters' }]);
    const form = await staff.post('/staff/products', { name });
    expect(pageText((await staff.follow(form)).text)).toContain('name is at most 200 characters');
    const cli = await runCli(server().db.env, ['product', 'create', '--name', name, '--json']);
    expect(cli.stderr).toBe('keyward: name is at most 200 characters\n');
  });

  it('a license cursor handed out before the paging module still continues the list', async () => {
    const first = (await server().services.licenses.search({ limit: 1 })).items[0]!;
    const old = Buffer.from(`l:${first.id}`).toString('base64url');
    const res = await api.call('GET', `/licenses?limit=1&cursor=${old}`, { token });
    expect(res.status).toBe(200);
    expect(res.json.items[0].id).toBeGreaterThan(first.id);
  });
});
