// The cost of Keyward's Previous Auths batch write on its own, per row, by batch size:
// CPU of this process (Keyward's side: building the batch, the driver, SQLite itself on SQLite)
// and, on PostgreSQL, the CPU of the PostgreSQL server's processes.
//
//   npm run build && node bench/log-write.mjs [--rows N] [--sizes 256,1024] [--repeat R]
//   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node bench/log-write.mjs
//
// It writes through the compiled AuthLogRepository.writeBatch into a fresh database (a temporary
// SQLite file; a fresh PostgreSQL schema, dropped afterwards), rows shaped like the benchmark's
// single check AUTHORISED, one license's counters per batch. Sizes run in turn, R times each,
// and the medians are printed. The database is not pinned: run it on a quiet machine. SQLite
// checkpoints its WAL within the commits here (its default); the server does that on a worker.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { ROOT } from './seed.mjs';
import { createPostgresSchema, dropPostgresSchema, postgresSecondsBetween, postgresTicks } from './system.mjs';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '100000' },
    sizes: { type: 'string', default: '256,1024' },
    repeat: { type: 'string', default: '3' },
  },
});
const ROWS = Number(values.rows);
const SIZES = values.sizes.split(',').map(Number);
const REPEAT = Number(values.repeat);
if (!(ROWS > 0) || SIZES.some((s) => !(s > 0)) || !(REPEAT > 0)) {
  console.error('usage: node bench/log-write.mjs [--rows N] [--sizes 256,1024] [--repeat R]');
  process.exit(2);
}

const dist = (file) => import(pathToFileURL(path.join(ROOT, 'dist', file)).href);
const { openStorage } = await dist('storage/database.js');
const { AuthLogRepository } = await dist('storage/auth-log-repository.js');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function measure(title, storage) {
  const repo = new AuthLogRepository(storage);
  let time = Date.now();
  const batch = (size) => {
    const rows = [];
    for (let i = 0; i < size; i++) {
      rows.push({ time: time++, license_id: 1, product_id: 1, ip: '127.0.0.1', status: 'AUTHORISED', info: 'bench', user_agent: 'autocannon' });
    }
    return { rows, counters: new Map([[1, { checks: size, lastCheckAt: time, lastIp: '127.0.0.1' }]]) };
  };
  // Warm-up: statements prepared, caches filled.
  for (let i = 0; i < 20; i++) {
    const b = batch(256);
    await repo.writeBatch(b.rows, b.counters);
  }
  const results = new Map(SIZES.map((s) => [s, { keyward: [], db: [] }]));
  for (let r = 0; r < REPEAT; r++) {
    for (const size of SIZES) {
      const batches = Array.from({ length: Math.ceil(ROWS / size) }, () => batch(size));
      const db = storage.dialect === 'postgres' ? postgresTicks() : null;
      const cpu = process.cpuUsage();
      for (const b of batches) await repo.writeBatch(b.rows, b.counters);
      const used = process.cpuUsage(cpu);
      const n = batches.length * size;
      results.get(size).keyward.push(((used.user + used.system) / n));
      if (db) results.get(size).db.push((postgresSecondsBetween(db, postgresTicks()) * 1e6) / n);
    }
  }
  console.log(`\n${title}: µs of CPU per row (medians of ${REPEAT} × ${ROWS.toLocaleString('en-US')} rows)`);
  console.log(`  ${'batch'.padStart(6)}  ${'Keyward'.padStart(8)}${storage.dialect === 'postgres' ? `  ${'PostgreSQL'.padStart(10)}` : ''}`);
  for (const [size, m] of results) {
    console.log(`  ${String(size).padStart(6)}  ${median(m.keyward).toFixed(2).padStart(8)}${m.db.length ? `  ${median(m.db).toFixed(2).padStart(10)}` : ''}`);
  }
}

/** The license whose counters each batch adds to (a stand-in: no real key is needed here). */
async function seedLicense(storage) {
  const now = Date.now();
  await storage.db.insertInto('products').values({ id: 1, name: 'bench', created_at: now, updated_at: now }).execute();
  await storage.db
    .insertInto('licenses')
    .values({ id: 1, key_digest: 'log-write-bench', key_cipher: 'none', created_at: now, updated_at: now })
    .execute();
}

/** Opens (and migrates) a fresh database, measures on it, closes it. */
async function measureOn(title, options) {
  const storage = await openStorage(options);
  try {
    await seedLicense(storage);
    await measure(title, storage);
  } finally {
    await storage.close();
  }
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'keyward-log-write-'));
try {
  await measureOn('SQLite', { dialect: 'sqlite', databaseUrl: 'sqlite:', sqlitePath: path.join(dir, 'keyward.db') });
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const pgBase = process.env.BENCH_DATABASE_URL;
if (pgBase) {
  const { schema, url } = await createPostgresSchema(pgBase, 'kw_logwrite');
  try {
    await measureOn('PostgreSQL', { dialect: 'postgres', databaseUrl: url });
  } finally {
    await dropPostgresSchema(pgBase, schema);
  }
}
