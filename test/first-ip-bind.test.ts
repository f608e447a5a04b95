import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { openServices, type Services } from '../src/services.js';
import { freePort, startServerProcess, type ServerProcess } from './helpers/cli.js';
import { describeEachDialect, type TestDatabase } from './helpers/dialects.js';
import { request } from './helpers/http.js';
import { until } from './helpers/wait.js';

/**
 * A locked license with no allowed IPs takes its first caller's IP. Two server processes whose
 * first checks of the same license arrive at once must bind it once: one IP, one audit entry,
 * and both then refuse the other caller.
 */
describeEachDialect('first-IP bind across two server processes ($name)', (create) => {
  let db: TestDatabase;
  let services: Services;
  const servers: ServerProcess[] = [];

  beforeAll(async () => {
    db = await create();
    ({ services } = await openServices(loadConfig(db.env, { dotenv: false })));
    await services.products.create({ id: 8, name: 'Script' }, 'test');
    const env = { ...db.env, TRUST_PROXY: 'loopback' };
    servers.push(await startServerProcess(env, await freePort(), 'silent'));
    servers.push(await startServerProcess(env, await freePort(), 'silent'));
  });
  afterAll(async () => {
    for (const s of servers) await s.stop();
    await services?.close();
    await db?.cleanup();
  });

  const check = async (server: ServerProcess, key: string, ip: string) =>
    (await request(server.url, { path: '/api/check/8', headers: { authorization: key, 'x-real-ip': ip } })).json.status as string;

  it('binds once when both instances see a first check at the same moment', async () => {
    const licenses = [];
    for (let i = 0; i < 5; i++) licenses.push(await services.licenses.create({ productIds: [8], ipLocked: true }, 'test'));
    for (const { id, key } of licenses) {
      const [a, b] = [`192.0.2.${10 + id}`, `198.51.100.${10 + id}`];
      // Usually both instances authorise their own first caller (neither has seen a bind yet).
      const answers = await Promise.all([check(servers[0]!, key, a), check(servers[1]!, key, b)]);
      expect(answers).toContain('AUTHORISED');
      const audit = () => services.logs.audit({ action: 'license.ip_bound', targetId: String(id) });
      const entries = await until(audit, (rows) => rows.length > 0, 5000);
      const { ips } = await services.licenses.show(id);
      expect(ips).toHaveLength(1);
      expect([a, b].filter((_, i) => answers[i] === 'AUTHORISED')).toContain(ips[0]);
      const loser = ips[0] === a ? b : a;
      // The instance that lost re-reads the license too: both refuse the other caller now.
      for (const server of servers) {
        expect(await until(() => check(server, key, loser), (s) => s === 'NOT AUTHORISED', 3000)).toBe('NOT AUTHORISED');
        expect(await check(server, key, ips[0]!)).toBe('AUTHORISED');
      }
      expect(entries).toHaveLength(1);
      expect(await audit()).toMatchObject([{ actor: 'system:check', after: { ips } }]);
    }
  });
});
