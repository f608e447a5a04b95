import { reposOf, type TestServer } from './server.js';
import { WebClient } from './web-client.js';

/** Every test user's password. Its argon2id hash is computed once per test process (hashing is slow). */
export const TEST_PASSWORD = 'test-pass-1234';
export const passwordOf = (_username: string) => TEST_PASSWORD;

let hash: Promise<string> | null = null;
const testHash = () =>
  (hash ??= import('argon2').then(({ default: argon2 }) => argon2.hash(TEST_PASSWORD, { type: argon2.argon2id })));

/** Creates a user straight in the database with the shared test password (fast; no audit entry). */
export async function makeUser(server: TestServer, username: string, role: 'customer' | 'staff' | 'admin' = 'customer') {
  const now = Date.now();
  const row = await reposOf(server).users.insert({
    username,
    email: `${username}@example.com`,
    password_hash: await testHash(),
    discord_id: null,
    role,
    disabled: 0,
    created_at: now,
    updated_at: now,
  });
  return server.services.users.get(row.id);
}

/** A client whose session is made directly (no argon2 verify): for tests that are not about signing in. */
export async function signedIn(server: TestServer, username: string, role?: 'customer' | 'staff' | 'admin'): Promise<WebClient> {
  const user = role ? await makeUser(server, username, role) : await server.services.users.findByUsername(username);
  if (!user) throw new Error(`no user ${username}`);
  const { token } = await server.services.sessions.start(user.id, 'full', {
    ip: '127.0.0.1',
    userAgent: 'keyward-test-client',
  });
  const client = new WebClient(server.url, server.services.config.PUBLIC_URL);
  const secure = server.services.config.PUBLIC_URL.startsWith('https:');
  client.cookies.set(secure ? '__Host-keyward_session' : 'keyward_session', token);
  await client.get('/account');
  return client;
}

/** A client signed in through the real /login form (argon2 verify included). */
export async function signInByForm(server: TestServer, login: string, password = TEST_PASSWORD): Promise<WebClient> {
  const client = new WebClient(server.url, server.services.config.PUBLIC_URL);
  const res = await client.signIn(login, password);
  if (res.status !== 303) throw new Error(`sign-in as ${login} failed: ${res.status}`);
  await client.follow(res);
  return client;
}

/** The id at the end of a path such as /staff/licenses/12. */
export const idFrom = (location: string | null): number => Number(/\/(\d+)(?:[?#]|$)/.exec(location ?? '')?.[1]);

/** A machine activated on a license as a client's activation makes one (named `name`, host `name.host`); its id. */
export async function seedMachine(server: TestServer, licenseId: number, fingerprint: string, name: string): Promise<number> {
  const outcome = await server.services.machines.activate(licenseId, fingerprint, { ip: '192.0.2.55', name, hostname: `${name}.host` }, 'explicit');
  if (!outcome?.machine) throw new Error(`machine ${fingerprint} was not activated: ${outcome?.status}`);
  return outcome.machine.id;
}

/** A license and the one machine seeded on it. */
export interface LicenseWithMachine {
  id: number;
  machineId: number;
}

/**
 * The cast of the dashboard authorisation suites: the customers `victim` and `mallory` and the
 * staff member `sec-staff`, signed in, and a license from `policyId` for each customer with one
 * machine (`machines`: its fingerprint and name).
 */
export async function securityCast(server: TestServer, policyId: number, machines: Record<'victim' | 'own', [fingerprint: string, name: string]>, victimLicense: Record<string, unknown> = {}) {
  const issue = async (owner: string, [fingerprint, name]: [string, string], extra: Record<string, unknown> = {}): Promise<LicenseWithMachine> => {
    const { id } = await server.services.licenses.create({ policyId, owner, ...extra }, 'test');
    return { id, machineId: await seedMachine(server, id, fingerprint, name) };
  };
  return {
    mallory: await signedIn(server, 'mallory', 'customer'),
    victimClient: await signedIn(server, 'victim', 'customer'),
    staff: await signedIn(server, 'sec-staff', 'staff'),
    victim: await issue('victim', machines.victim, victimLicense),
    own: await issue('mallory', machines.own),
  };
}
