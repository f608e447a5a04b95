import { beforeAll, afterAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { digestKey } from '../src/licensing/key.js';
import { LICENSE_STATES, licenseState, type LicenseState } from '../src/licensing/license-state.js';
import { openStorage, type Storage } from '../src/storage/database.js';
import { LicenseRepository } from '../src/storage/license-repository.js';
import { makeUser, signedIn } from './helpers/dashboard.js';
import { describeEachDialect, type TestDatabase } from './helpers/dialects.js';
import { eachDialect } from './helpers/suite.js';

const NOW = Date.UTC(2027, 0, 31, 12, 0, 0);
const HOUR = 3_600_000;

/** Every combination of the switches and an expiry around `NOW`: never, past, exactly now, just after. */
const CASES = [0, 1].flatMap((disabled) =>
  [0, 1].flatMap((active) => [null, NOW - HOUR, NOW - 1, NOW, NOW + 1, NOW + HOUR].map((expiresAt) => ({ disabled, active, expiresAt }))),
);

describeEachDialect('license state: the SQL rule and licenseState() agree ($name)', (create) => {
  let db: TestDatabase;
  let storage: Storage;
  let licenses: LicenseRepository;
  /** The state licenseState() gives each stored license at NOW. */
  const expected = new Map<number, LicenseState>();

  beforeAll(async () => {
    db = await create();
    const config = loadConfig(db.env, { dotenv: false });
    storage = await openStorage({ dialect: config.dialect, databaseUrl: config.DATABASE_URL, sqlitePath: config.sqlitePath });
    await storage.db.insertInto('products').values({ id: 1, name: 'One', description: null, created_at: NOW, updated_at: NOW }).execute();
    licenses = new LicenseRepository(storage.db);
    for (const [i, c] of CASES.entries()) {
      const id = await licenses.insert(
        {
          key_digest: digestKey(`state-case-${i}`),
          key_cipher: 'v1:unused',
          owner_id: null,
          active: c.active,
          disabled: c.disabled,
          ip_locked: 0,
          ips: '[]',
          expires_at: c.expiresAt,
          note: null,
          created_at: NOW,
          updated_at: NOW,
        },
        [1],
      );
      expected.set(id, licenseState({ disabled: c.disabled === 1, active: c.active === 1, expiresAt: c.expiresAt }, NOW));
    }
  });
  afterAll(async () => {
    await storage?.close();
    await db?.cleanup();
  });

  it('covers every state, and decides the boundaries as the check path does', () => {
    expect(new Set(expected.values())).toEqual(new Set(LICENSE_STATES));
    expect(licenseState({ disabled: false, active: true, expiresAt: NOW }, NOW)).toBe('expired');
    expect(licenseState({ disabled: false, active: true, expiresAt: NOW + 1 }, NOW)).toBe('active');
    expect(licenseState({ disabled: false, active: false, expiresAt: NOW - HOUR }, NOW)).toBe('inactive');
    expect(licenseState({ disabled: true, active: false, expiresAt: NOW - HOUR }, NOW)).toBe('disabled');
    expect(licenseState({ disabled: false, active: true, expiresAt: new Date(NOW).toISOString() }, NOW)).toBe('expired');
  });

  it.each(LICENSE_STATES)('the status filter "%s" lists exactly the licenses in that state', async (state) => {
    const rows = await licenses.list({ status: state, now: NOW, limit: 1000 });
    const want = [...expected].filter(([, s]) => s === state).map(([id]) => id);
    expect(rows.map((r) => r.id)).toEqual(want);
  });

  it('counts each state by the same rule', async () => {
    const want: Record<string, number> = { total: expected.size };
    for (const state of LICENSE_STATES) want[state] = [...expected.values()].filter((s) => s === state).length;
    expect(await licenses.count(NOW)).toEqual(want);
  });
});

eachDialect('license state: the overview counts what the status filter lists', (server) => {
  it('the "active" card counts no expired license', async () => {
    const staff = await signedIn(server(), 'state-staff', 'staff');
    await makeUser(server(), 'state-owner');
    await server().issue([8], { owner: 'state-owner' });
    await server().issue([8], { expiresAt: '2020-01-01' });
    const disabled = await server().issue([8]);
    await server().services.licenses.setDisabled([disabled.id], true, 'test');

    const page = (await staff.get('/staff')).text;
    const card = (label: string) => Number(new RegExp(`stat-n">([\\d,]+)</span><span class="stat-l">${label}<`).exec(page)?.[1]?.replace(/,/g, ''));
    const listed = async (status: LicenseState) => (await server().services.licenses.search({ status })).items.length;
    expect(card('licenses')).toBe(3);
    expect(card('active')).toBe(await listed('active'));
    expect(card('active')).toBe(1);
    expect(card('disabled')).toBe(await listed('disabled'));
  });
});
