#!/usr/bin/env node
// Policies and machines at scale: seeds 100,000 licenses issued from a policy, each with 3
// machines (and Previous Auths spread over them), starts Keyward, and times the staff's and the
// owner's license pages of licenses at the end of the id range, signed in as each. It also prints
// the query plans of a license's machines and of the heartbeat sweep, and times one sweep.
// SQLite in a temporary directory; PostgreSQL (BENCH_DATABASE_URL) in a schema dropped afterwards.
// See bench/README.md and docs/benchmarks.md ("Policies and machines").
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ROOT, openKeyward, seedDatabase } from './seed.mjs';
import { createPostgresSchema, dropPostgresSchema } from './system.mjs';

const HELP = `Usage: node bench/machines-scale.mjs [options]      (after npm run build)

  --licenses N      licenses issued from the policy (default 100000)
  --machines M      machines per license (default 3; the policy allows 5)
  --log-rows R      Previous Auths rows spread over the licenses (default 1000000)
  --owners U        customers owning the licenses in turn (default 1000)
  --requests K      timed requests per page (default 200), each of a different license at the end of the range
  --dialects LIST   sqlite,postgres (default: sqlite, and postgres when BENCH_DATABASE_URL is set)
  --keep            keep the data directory and the PostgreSQL schema
  -h, --help        this text

Environment: BENCH_DATABASE_URL=postgres://... for PostgreSQL (a fresh schema, dropped after).`;

const SECRET = 'keyward-bench-secret-0123456789abcdef0123456789';
const PUBLIC_URL = 'https://license.example.com';
const PRODUCT_ID = 1;
const WARMUP = 20;
const GOAL_MS = 100;

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      licenses: { type: 'string', default: '100000' },
      machines: { type: 'string', default: '3' },
      'log-rows': { type: 'string', default: '1000000' },
      owners: { type: 'string', default: '1000' },
      requests: { type: 'string', default: '200' },
      dialects: { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const whole = (name, min, max) => {
    const text = values[name];
    const n = Number(text);
    if (text.trim() === '' || !Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be a whole number from ${min} to ${max} (got ${JSON.stringify(text)})`);
    return n;
  };
  const options = {
    licenses: whole('licenses', 1, 10_000_000),
    machines: whole('machines', 0, 5),
    logRows: whole('log-rows', 0, 100_000_000),
    owners: whole('owners', 1, 100_000),
    requests: whole('requests', 1, 100_000),
    keep: values.keep,
    dialects: (values.dialects ?? (process.env.BENCH_DATABASE_URL ? 'sqlite,postgres' : 'sqlite')).split(',').map((d) => d.trim()).filter(Boolean),
  };
  for (const d of options.dialects) if (d !== 'sqlite' && d !== 'postgres') throw new Error(`--dialects: unknown dialect ${JSON.stringify(d)} (sqlite, postgres)`);
  if (options.dialects.includes('postgres') && !process.env.BENCH_DATABASE_URL) throw new Error('--dialects postgres needs BENCH_DATABASE_URL');
  if (options.requests > options.licenses) throw new Error(`--requests (${options.requests}) must not exceed --licenses (${options.licenses}): each request is of a different license`);
  return options;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const loadAverage = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function percentile(sorted, p) {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function envOf(databaseUrl, dir) {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? os.tmpdir(),
    DATABASE_URL: databaseUrl,
    DATA_DIR: dir,
    KEYWARD_SECRET: SECRET,
    PUBLIC_URL,
    LOG_LEVEL: 'warn',
  };
}

/**
 * The product, the policy (through the services, as the dashboard creates them), the staff user
 * and the owners (straight into the users table: they never sign in with a password), then the
 * licenses, machines and Previous Auths in bulk.
 */
async function prepare(env, options, print) {
  const opened = await openKeyward(env);
  let policyId;
  let ownerIds;
  let staffId;
  try {
    const { services, storage } = opened;
    await services.products.create({ name: 'Scale product', id: PRODUCT_ID }, 'bench');
    const policy = await services.policies.create({ name: 'Scale policy, 5 machines', productIds: [PRODUCT_ID], maxMachines: 5 }, 'bench');
    policyId = policy.id;
    const now = Date.now();
    const user = (username, role) => ({ username, email: `${username}@example.com`, password_hash: null, discord_id: null, role, disabled: 0, created_at: now, updated_at: now });
    const staff = await storage.db.insertInto('users').values(user('bench-staff', 'staff')).returning('id').executeTakeFirstOrThrow();
    staffId = staff.id;
    ownerIds = [];
    for (let i = 0; i < options.owners; i += 1000) {
      const rows = [];
      for (let j = i; j < Math.min(options.owners, i + 1000); j++) rows.push(user(`bench-owner-${j}`, 'customer'));
      ownerIds.push(...(await storage.db.insertInto('users').values(rows).returning('id').execute()).map((r) => r.id));
    }
  } finally {
    await opened.close();
  }
  const t0 = performance.now();
  const seeded = await seedDatabase({
    env,
    licenses: options.licenses,
    logRows: options.logRows,
    productId: PRODUCT_ID,
    policyId,
    machinesPerLicense: options.machines,
    ownerIds,
    print,
  });
  print(`  seeded ${options.licenses.toLocaleString('en-US')} licenses, ${(options.licenses * options.machines).toLocaleString('en-US')} machines and ${options.logRows.toLocaleString('en-US')} Previous Auths rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { ...seeded, staffId, ownerIds };
}

async function startServer(env, dir) {
  const port = await freePort();
  const logFile = path.join(dir, 'server.log');
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'keyward.js'), 'serve'], {
    env: { ...env, HOST: '127.0.0.1', PORT: String(port) },
    cwd: dir,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && child.exitCode === null) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { child, url, logFile };
    } catch {
      /* not listening yet */
    }
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`Keyward did not become ready; its log (${logFile}):\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
}

/** Dashboard sessions made through the session service, as a sign-in would make them. */
async function sessionsFor(env, userIds) {
  const opened = await openKeyward(env);
  try {
    const tokens = new Map();
    for (const id of new Set(userIds)) tokens.set(id, (await opened.services.sessions.start(id, 'full', { ip: '127.0.0.1', userAgent: 'keyward-bench' })).token);
    return tokens;
  } finally {
    await opened.close();
  }
}

/**
 * Times GET `pathOf(id)` for each license id in turn, one request at a time, with the session of
 * `userOf(id)`; every page must be 200 and show the license's machines. Returns milliseconds.
 */
async function timePages(url, ids, pathOf, cookieOf, machines) {
  const times = [];
  for (const id of ids) {
    const t0 = performance.now();
    const res = await fetch(`${url}${pathOf(id)}`, { headers: { cookie: cookieOf(id) }, redirect: 'manual' });
    const html = await res.text();
    times.push(performance.now() - t0);
    if (res.status !== 200) throw new Error(`GET ${pathOf(id)}: ${res.status} ${html.slice(0, 300)}`);
    // Each machine's IP (seed.mjs: 10.<id>.<m + 1>) is on both pages; the owner's shows no hostname.
    for (let m = 0; m < machines; m++) {
      const ip = `10.${(id >> 8) & 255}.${id & 255}.${m + 1}`;
      if (!html.includes(`>${ip}<`)) throw new Error(`GET ${pathOf(id)}: machine fp-${m} (IP ${ip}) is not on the page`);
    }
  }
  return times;
}

function stats(times) {
  const sorted = [...times].sort((a, b) => a - b);
  return { n: sorted.length, median: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) };
}

/**
 * The plan of a license's machines (the query of both pages' Machines section and of the check
 * cache: machine-repository.ts listOf), and a heartbeat sweep over all the machines timed.
 */
async function plans(env, licenseId) {
  const opened = await openKeyward(env);
  const { db, dialect } = opened.storage;
  try {
    const { sql } = await import('kysely');
    const explain = dialect === 'postgres' ? sql`explain` : sql`explain query plan`;
    // The same statement as listOf, with the id inlined (it is our own integer).
    const rows = (await sql`${explain} select * from machines where license_id = ${sql.lit(licenseId)} order by id`.execute(db)).rows;
    const sweep = async () => {
      const t0 = performance.now();
      const freed = await opened.services.machines.sweepDead(Date.now(), { limit: 500, graceMs: 60_000 });
      return { ms: performance.now() - t0, freed };
    };
    // As seeded (a policy without a heartbeat), then with a day's heartbeat: every machine was seen
    // within the hour, so that sweep too frees nothing; it is the search that costs.
    const withoutHeartbeat = await sweep();
    const [policy] = await opened.services.policies.list();
    await opened.services.policies.update(policy.id, { heartbeatSeconds: 86_400 }, 'bench');
    const withHeartbeat = await sweep();
    await opened.services.policies.update(policy.id, { heartbeatSeconds: null }, 'bench');
    return { machines: rows.map((r) => r['QUERY PLAN'] ?? r.detail).join('\n'), withoutHeartbeat, withHeartbeat };
  } finally {
    await opened.close();
  }
}

async function runDialect(dialect, options, tmp, print) {
  const dir = path.join(tmp, dialect);
  mkdirSync(dir, { recursive: true });
  let schema = null;
  let databaseUrl = `sqlite:${path.join(dir, 'keyward.db')}`;
  if (dialect === 'postgres') {
    const created = await createPostgresSchema(process.env.BENCH_DATABASE_URL, 'kw_mscale');
    schema = created.schema;
    databaseUrl = created.url;
    print(`${created.version}, schema ${schema}`);
  }
  const env = envOf(databaseUrl, dir);
  let server = null;
  try {
    print(`\n${dialect === 'postgres' ? 'PostgreSQL' : 'SQLite'}: seeding (load average ${loadAverage()})`);
    const seeded = await prepare(env, options, print);
    const ids = [];
    for (let id = seeded.lastId - options.requests + 1; id <= seeded.lastId; id++) ids.push(id);
    const warm = ids.slice(0, Math.min(WARMUP, ids.length));
    const ownerOf = (id) => seeded.ownerIds[(id - seeded.firstId) % seeded.ownerIds.length];
    const tokens = await sessionsFor(env, [seeded.staffId, ...ids.map(ownerOf)]);
    const cookie = (userId) => `__Host-keyward_session=${tokens.get(userId)}`;

    server = await startServer(env, dir);
    print(`  Keyward serving on ${server.url} (pid ${server.child.pid})`);
    const pages = {
      staff: { path: (id) => `/staff/licenses/${id}`, cookie: () => cookie(seeded.staffId) },
      owner: { path: (id) => `/licenses/${id}`, cookie: (id) => cookie(ownerOf(id)) },
    };
    const figures = {};
    const loadBefore = loadAverage();
    for (const [name, page] of Object.entries(pages)) {
      await timePages(server.url, warm, page.path, page.cookie, options.machines);
      figures[name] = stats(await timePages(server.url, ids, page.path, page.cookie, options.machines));
    }
    const loadAfter = loadAverage();
    const plan = await plans(env, seeded.lastId);
    return { dialect, figures, plan, loadBefore, loadAfter, lastId: seeded.lastId };
  } finally {
    if (server) {
      server.child.kill('SIGTERM');
      await new Promise((r) => (server.child.exitCode !== null ? r() : server.child.once('exit', r)));
    }
    if (schema && !options.keep) await dropPostgresSchema(process.env.BENCH_DATABASE_URL, schema).catch((err) => console.error(`could not drop schema ${schema}: ${err.message}`));
    else if (schema) print(`  kept schema ${schema}`);
  }
}

async function main() {
  let options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`machines-scale: ${err.message}`);
    return 2;
  }
  if (!existsSync(path.join(ROOT, 'dist', 'services.js'))) {
    console.error('machines-scale: dist/ is missing; run `npm run build` first.');
    return 2;
  }
  const print = (line) => console.log(line);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'keyward-mscale-'));
  print(`Policies and machines at scale: ${options.licenses.toLocaleString('en-US')} licenses × ${options.machines} machines, ${options.logRows.toLocaleString('en-US')} Previous Auths rows; data in ${tmp}`);
  print(`${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), Node.js ${process.version}, load average ${loadAverage()} at ${new Date().toISOString()}`);
  const results = [];
  let failed = false;
  try {
    for (const dialect of options.dialects) results.push(await runDialect(dialect, options, tmp, print));
  } catch (err) {
    failed = true;
    console.error(`\nmachines-scale: ${err.stack ?? err}`);
  } finally {
    if (options.keep) print(`Kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
  if (results.length) {
    print(`\n${options.requests} requests per page, one at a time, each of a different license of the last ${options.requests} ids (after ${WARMUP} warm-up requests); goal: under ${GOAL_MS} ms`);
    print('| database | page | median ms | p99 ms | max ms | load average before → after |');
    print('|---|---|---:|---:|---:|---|');
    for (const r of results) {
      for (const [name, f] of Object.entries(r.figures)) {
        print(`| ${r.dialect === 'postgres' ? 'PostgreSQL' : 'SQLite'} | ${name === 'staff' ? 'staff `/staff/licenses/ID`' : 'owner `/licenses/ID`'} | ${f.median.toFixed(1)} | ${f.p99.toFixed(1)} | ${f.max.toFixed(1)} | ${r.loadBefore} → ${r.loadAfter} |`);
        if (f.p99 >= GOAL_MS) print(`  NOTE: p99 ${f.p99.toFixed(1)} ms is over the ${GOAL_MS} ms goal`);
      }
    }
    for (const r of results) {
      print(`\n${r.dialect}: plan of a license's machines (license ${r.lastId}):\n${r.plan.machines}`);
      const { withoutHeartbeat: a, withHeartbeat: b } = r.plan;
      print(`${r.dialect}: one heartbeat sweep over ${(options.licenses * options.machines).toLocaleString('en-US')} machines: ${a.ms.toFixed(1)} ms with no heartbeat policy (freed ${a.freed}), ${b.ms.toFixed(1)} ms with a 1-day heartbeat (freed ${b.freed})`);
    }
  }
  return failed ? 1 : 0;
}

process.exitCode = await main();
