import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { seededRandom } from './seeded-random.js';

/** A `licensesystem` row as FaxStore stores it. */
export interface FaxRow {
  id: number;
  userId: string | null;
  productName: string | null;
  productId: number;
  authStatus: number;
  totalRequests: number | null;
  lastRequest: string | null;
  authIP: string | null;
  authKey: string | null;
  authStatusForced: number;
  iplocked: number;
  ownedid: number;
}

export interface FaxUser {
  userId: string;
  username: string;
  email: string | null;
}

/** What the import must make of a row, decided by how the generator built it. */
export interface Expected {
  skip?: 'no_product' | 'invalid_product' | 'invalid_key' | 'duplicate_key';
  key: string;
  productId: number;
  status: 'AUTHORISED' | 'KEY DISABLED' | 'NOT ACTIVE' | 'NOT AUTHORISED';
  active: boolean;
  disabled: boolean;
  ipLocked: boolean;
  ips: string[];
  totalChecks: number;
  lastCheckAt: number | null;
  /** The owner: by Discord id, or by username for non-Discord ids; null for none. */
  owner: { discordId: string } | { username: string } | null;
}

export interface Fixture {
  users: FaxUser[];
  rows: FaxRow[];
  expected: Map<number, Expected>;
  /** Product id → the name the import must give it. */
  productNames: Map<number, string>;
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ1023456789-_';
export const LONG_NAME = `Ultimate ${'Mega '.repeat(60)}Pack`;
const PRODUCTS: [number, string][] = [
  [8, 'Script A'],
  [16, 'Fancy Car Pack, "Deluxe"'],
  [23, LONG_NAME],
  [42, 'New Name'],
  [77, 'Ünïcödé 名前 product'],
  [2147483647, 'Max'],
];
const T0 = Date.UTC(2025, 0, 1);

/** A deterministic FaxStore data set of `count` rows (and `userCount` owners) with the odd cases a real one has. */
export function buildFixture(count: number, seed = 42, userCount = 400): Fixture {
  const rand = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const key = (length = 46) => Array.from({ length }, () => pick([...ALPHABET])).join('');
  const snowflake = () => String(100000000000000000n + BigInt(Math.floor(rand() * 9e17)));

  const users: FaxUser[] = [];
  for (let i = 0; i < userCount; i++) {
    const username =
      i < 3 ? 'sam' : i < 5 ? '名前' : i % 7 === 0 ? `Bob Smith ${i}` : i % 11 === 0 ? `x${'y'.repeat(40)}${i}` : `user_${i}`;
    users.push({ userId: snowflake(), username, email: i % 3 === 0 ? `u${i}@example.com` : i % 3 === 1 ? 'not-an-email' : null });
  }
  users.push({ userId: 'legacy-user-1', username: 'legacy', email: null });
  const unknownUsers = Array.from({ length: 20 }, snowflake);

  const rows: FaxRow[] = [];
  for (let id = 1; id <= count; id++) {
    const r = rand();
    const [productId, baseName] = r < 0.03 ? [0, 'bot key'] : pick(PRODUCTS);
    const u = rand();
    const userId = u < 0.85 ? pick(users).userId : u < 0.9 ? pick(unknownUsers) : u < 0.93 ? pick(['', '0', null]) : 'legacy-user-1';
    const ipKind = rand();
    const authIP =
      ipKind < 0.4 ? '127.0.0.1' : ipKind < 0.65 ? `203.0.113.${id % 250}` : ipKind < 0.75 ? null : ipKind < 0.8 ? '' : ipKind < 0.85 ? 'not-an-ip' : ipKind < 0.92 ? '2001:db8::1' : '10.0.0.0/8';
    const lr = rand();
    const lastRequest =
      lr < 0.2 ? '' : lr < 0.25 ? null : lr < 0.85 ? String(T0 + id * 60_000) : lr < 0.9 ? String(Math.floor((T0 + id * 60_000) / 1000)) : lr < 0.95 ? 'yesterday' : '0';
    rows.push({
      id,
      userId,
      productName: productId === 42 && rand() < 0.1 ? 'Old Name' : baseName,
      productId,
      authStatus: rand() < 0.9 ? 1 : 0,
      totalRequests: rand() < 0.02 ? null : Math.floor(rand() * 100_000),
      lastRequest,
      authIP,
      authKey: key(rand() < 0.1 ? 45 : 46),
      authStatusForced: rand() < 0.05 ? 1 : 0,
      iplocked: rand() < 0.3 ? 1 : 0,
      ownedid: Math.floor(rand() * 5000),
    });
  }
  // The odd ones, at fixed places.
  const at = (id: number, patch: Partial<FaxRow>) => {
    if (id <= count) Object.assign(rows[id - 1]!, patch);
  };
  at(5, { authKey: '' });
  at(6, { authKey: null });
  at(7, { authKey: 'short' });
  at(9, { authKey: 'has a space inside this license key' });
  at(10, { authKey: 'x'.repeat(300) });
  at(11, { authKey: `  ${key()}  `, productId: 8, productName: 'Script A' });
  at(12, { authKey: rows[10]?.authKey?.trim() ?? null, productId: 8 });
  at(13, { productId: -5 });
  at(14, { productId: 0, productName: 'bot key' });
  at(15, { productName: null, productId: 16 });
  at(17, { userId: 'legacy-user-1', iplocked: 1, authIP: '127.0.0.1', authStatus: 1, authStatusForced: 0 });
  for (let id = 100; id <= count; id += 97) at(id, { authKey: rows[Math.floor(id / 2)]!.authKey });

  return { users, rows, ...oracle(users, rows) };
}

/** What the documented rules say each row becomes (docs/import.md). */
function oracle(users: FaxUser[], rows: FaxRow[]): { expected: Map<number, Expected>; productNames: Map<number, string> } {
  const known = new Set(users.map((u) => u.userId));
  const expected = new Map<number, Expected>();
  const imported = new Set<string>();
  for (const row of rows) {
    const key = (row.authKey ?? '').trim();
    const ip = row.authIP ?? '';
    const ips = ['127.0.0.1', '2001:db8::1', '10.0.0.0/8'].includes(ip) || ip.startsWith('203.0.113.') ? [ip] : [];
    const locked = row.iplocked === 1;
    const status =
      row.authStatusForced === 1
        ? 'KEY DISABLED'
        : row.authStatus !== 1
          ? 'NOT ACTIVE'
          : locked && ips.length > 0 && !ips.includes('127.0.0.1')
            ? 'NOT AUTHORISED'
            : 'AUTHORISED';
    const lr = row.lastRequest ?? '';
    const lastCheckAt = /^\d+$/.test(lr) && lr !== '0' ? (Number(lr) < 1e11 ? Number(lr) * 1000 : Number(lr)) : null;
    let skip: Expected['skip'];
    if (key.length < 8 || key.length > 256 || /\s/.test(key)) skip = 'invalid_key';
    else if (row.productId === 0) skip = 'no_product';
    else if (row.productId < 0) skip = 'invalid_product';
    else if (imported.has(key)) skip = 'duplicate_key';
    else imported.add(key);
    const userId = row.userId ?? '';
    expected.set(row.id, {
      ...(skip ? { skip } : {}),
      key,
      productId: row.productId,
      status,
      active: row.authStatus === 1,
      disabled: row.authStatusForced === 1,
      ipLocked: locked,
      ips,
      totalChecks: row.totalRequests ?? 0,
      lastCheckAt,
      owner: userId === '' || userId === '0' ? null : /^\d{17,20}$/.test(userId) ? { discordId: userId } : { username: known.has(userId) ? 'legacy' : userId },
    });
  }
  const productNames = new Map<number, string>();
  for (const [id, name] of PRODUCTS) productNames.set(id, name.length > 200 ? `${name.slice(0, 199)}…` : name);
  return { expected, productNames };
}

export interface FixtureDatabase {
  /** The URL of the fixture database, for `--from`. */
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** Loads the fixture into a fresh database `kw_fx_<random>` on the server at `baseUrl`. */
export async function createFixtureDatabase(baseUrl: string, fixture: Pick<Fixture, 'users' | 'rows'>): Promise<FixtureDatabase> {
  const name = `kw_fx_${randomBytes(5).toString('hex')}`;
  const admin = await mysql.createConnection({ uri: baseUrl, multipleStatements: true });
  await admin.query(`CREATE DATABASE ${name} CHARACTER SET utf8mb4`);
  await admin.query(`USE ${name}`);
  await admin.query(`
    CREATE TABLE users (
      id INT AUTO_INCREMENT PRIMARY KEY, userId VARCHAR(64) NOT NULL, username VARCHAR(255), email VARCHAR(255),
      permType INT DEFAULT 0, avatar TEXT
    );
    CREATE TABLE licensesystem (
      id INT AUTO_INCREMENT PRIMARY KEY, userId VARCHAR(64), productName VARCHAR(1024), productId INT NOT NULL DEFAULT 0,
      authStatus INT DEFAULT 1, totalRequests INT DEFAULT 0, lastRequest VARCHAR(64), authIP VARCHAR(255), authKey VARCHAR(512),
      authStatusForced INT DEFAULT 0, iplocked INT DEFAULT 0, ownedid INT DEFAULT 0
    );`);
  for (let i = 0; i < fixture.users.length; i += 1000) {
    await admin.query('INSERT INTO users (userId, username, email) VALUES ?', [
      fixture.users.slice(i, i + 1000).map((u) => [u.userId, u.username, u.email]),
    ]);
  }
  for (let i = 0; i < fixture.rows.length; i += 2000) {
    await admin.query(
      'INSERT INTO licensesystem (id, userId, productName, productId, authStatus, totalRequests, lastRequest, authIP, authKey, authStatusForced, iplocked, ownedid) VALUES ?',
      [
        fixture.rows
          .slice(i, i + 2000)
          .map((r) => [r.id, r.userId, r.productName, r.productId, r.authStatus, r.totalRequests, r.lastRequest, r.authIP, r.authKey, r.authStatusForced, r.iplocked, r.ownedid]),
      ],
    );
  }
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: async () => {
      const c = await mysql.createConnection({ uri: baseUrl });
      await c.query(`DROP DATABASE IF EXISTS ${name}`);
      await c.end();
    },
  };
}

/** The rows as CSV (RFC 4180), with the owner's username column, `\N` for NULL, CRLF line ends and a BOM. */
export function toCsv(fixture: Pick<Fixture, 'users' | 'rows'>): string {
  const names = new Map(fixture.users.map((u) => [u.userId, u.username]));
  const cell = (v: string | number | null) => {
    if (v === null) return '\\N';
    const s = String(v);
    return /[",\r\n]/.test(s) || s === '' ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const header = ['id', 'userId', 'username', 'productName', 'productId', 'authStatus', 'totalRequests', 'lastRequest', 'authIP', 'authKey', 'authStatusForced', 'iplocked', 'ownedid'];
  const lines = [header.join(',')];
  for (const r of fixture.rows) {
    lines.push(
      [r.id, r.userId, r.userId === null ? null : (names.get(r.userId) ?? ''), r.productName, r.productId, r.authStatus, r.totalRequests, r.lastRequest, r.authIP, r.authKey, r.authStatusForced, r.iplocked, r.ownedid]
        .map(cell)
        .join(','),
    );
  }
  return `\ufeff${lines.join('\r\n')}\r\n`;
}
