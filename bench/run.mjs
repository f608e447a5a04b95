#!/usr/bin/env node
// `npm run bench`: Keyward's check API side by side with a bare node:http server answering the
// same bytes (the ceiling). See bench/README.md and docs/benchmarks.md.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { compareProfiles, formatComparison, formatProfileSummary, summariseProfile } from './profile-summary.mjs';
import { goals, printReport, summarise, writeDocs } from './report.mjs';
import { ROOT, createPolicyLicense, readMachines, readTotals, seedDatabase, setAppRoot } from './seed.mjs';
import { CLK_TCK, cpuTicks, createPostgresSchema, dropPostgresSchema, postgresSecondsBetween, postgresTicks } from './system.mjs';

const HELP = `Usage: npm run bench -- [options]       (or: node bench/run.mjs [options] after npm run build)

  --duration S      seconds per measured round (default 5)
  --rounds R        measured rounds per scenario and target, alternating targets (default 2)
  --warmup S        warm-up seconds per scenario and target (default 2)
  --quick           smoke run: 1 s rounds, 0.5 s warm-up
                    (only a full run of every scenario, without --cpu-prof, rewrites docs/benchmarks.md)
  --connections N   concurrent connections (default 50)
  --licenses N      licenses in each database (default 10000; 4 via the CLI, 1 issued from a policy
                    when its scenario runs, the rest seeded)
  --log-rows M      Previous Auths rows to seed first (default 0)
  --pool N          keys the many-keys scenario cycles through (default 100000, at most --licenses)
  --scenarios LIST  comma-separated subset of: ${'SCENARIO_IDS'}
  --max-others F    repeat a round (up to ${'MAX_REPEATS'} times, each after waiting up to 60 s for quiet)
                    when other processes took more than this share of the server's CPU during it
                    (default 0.15; 1 = never repeat)
  --json FILE       also write every figure to FILE
  --cpu-prof DIR    run Keyward and the bare server under node --cpu-prof, write profiles to DIR and summarise them
  --baseline DIR    also run another build of Keyward (DIR: the root of a checkout built with
                    npm run build, e.g. a git worktree of an older commit) on SQLite, and on
                    PostgreSQL too when BENCH_DATABASE_URL is set, round for round beside this
                    one, and report this build ÷ the baseline (leaves docs/benchmarks.md alone)
  --no-docs         do not rewrite docs/benchmarks.md
  --keep            keep the temporary data directory (and PostgreSQL schema)
  -h, --help        this text

Environment: BENCH_DATABASE_URL=postgres://... adds Keyward on PostgreSQL (in a fresh schema).
Exit status 1 if any answer was not 2xx (or had the wrong body), a request failed, or a
license's totalChecks / the Previous Auths row count differs from the requests completed.`;

/** This build's snapshot (snapshotApp); a target may run another build (--baseline). */
let APP = { appRoot: ROOT, bin: path.join(ROOT, 'bin', 'keyward.js') };
const PUBLIC_URL = 'https://license.example.com';
const SECRET = 'keyward-bench-secret-0123456789abcdef0123456789';
const UNKNOWN_KEY = randomKey();
const RUN_ID = randomBytes(4).toString('hex');
const MAX_REPEATS = 3;
// The NOT FOUND scenario sends one unknown key from one IP at full speed: with the per-IP
// guessing limit (docs/security.md) in force every answer after the 30th would be a 429.
const CHECK_FAIL_LIMIT = '1000000000';

function randomKey() {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
  return [...randomBytes(45)].map((b) => alphabet[b & 63]).join('');
}

// ---------------------------------------------------------------------------------- scenarios
const SINGLE_PRODUCT = 1;
const ASKED = [2, 3, 4, 5, 6]; // the multiple check asks for these, in this order...
const BUNDLE = [6, 7, 8, 9, 10]; // ...and the bundle license grants only the last of them
const PRODUCTS = [...new Set([SINGLE_PRODUCT, ...ASKED, ...BUNDLE])].sort((a, b) => a - b);
const POLICY_MACHINES = 5; // the policy's maxMachines, and the fingerprints the policy scenario sends

/** The fingerprints a scenario's connections send (fp-0, fp-1, ...), none for most scenarios. */
const fingerprintsOf = (scenario) => Array.from({ length: scenario.fingerprints ?? 0 }, (_, i) => `fp-${i}`);
/** A scenario's path with a fingerprint in its query string. */
const withFingerprint = (scenario, fingerprint) => `${scenario.path}${scenario.path.includes('?') ? '&' : '?'}fingerprint=${fingerprint}`;

/** license: which benchmarked license the scenario checks (its counter must match). */
const SCENARIOS = [
  { id: 'single-ok', title: 'single check AUTHORISED', license: 'single', path: `/api/check/${SINGLE_PRODUCT}?info=bench`, expect: { status: 'AUTHORISED', pass: true } },
  // The same check of a license issued from a policy with a machine limit: connection i is machine
  // fp-(i mod 5), each activated before the load, so every check is a known machine answered from
  // the license cache (its sighting written behind). Beside single-ok: the report divides the two.
  {
    id: 'policy-machine',
    title: 'single check AUTHORISED, policy license, known machine',
    license: 'policy',
    path: `/api/check/${SINGLE_PRODUCT}?info=bench`,
    fingerprints: POLICY_MACHINES,
    expect: { status: 'AUTHORISED', pass: true },
  },
  { id: 'single-notfound', title: 'single check NOT FOUND (unknown key)', license: null, path: `/api/check/${SINGLE_PRODUCT}?info=bench`, expect: { status: 'NOT FOUND', pass: false } },
  {
    id: 'multiple',
    title: 'multiple check, 5 proIds (granted last)',
    license: 'bundle',
    path: '/api/check/multiple',
    body: JSON.stringify({ proIds: ASKED, info: 'bench' }),
    expect: { status: 'AUTHORISED', pass: true, proId: ASKED.at(-1) },
  },
  { id: 'v1', title: 'V1 checkitem', license: 'v1', path: `/api/checkitem/${SINGLE_PRODUCT}`, expect: { status: 'OK', pass: true } },
  {
    id: 'single-nonce',
    title: 'single check AUTHORISED, fresh nonce',
    license: 'nonce',
    path: `/api/check/${SINGLE_PRODUCT}`,
    body: '{"nonce":"[<id>]","info":"bench"}',
    // Each connection cycles through 200 nonces of its own (10,000 distinct with 50 connections).
    nonces: 200,
    expect: { status: 'AUTHORISED', pass: true },
  },
  { id: 'many-keys', title: 'single check AUTHORISED, many keys', license: 'pool', path: `/api/check/${SINGLE_PRODUCT}?info=bench`, expect: { status: 'AUTHORISED', pass: true } },
  // The same check as single-ok with `log=false` (docs/check-api.md): no Previous Auths row, the
  // counters still written. What Keyward reaches without writing a row per check on its core.
  {
    id: 'single-nolog',
    title: 'single check AUTHORISED, log=false (no Previous Auths row)',
    license: 'single',
    logged: false,
    path: `/api/check/${SINGLE_PRODUCT}?info=bench&log=false`,
    expect: { status: 'AUTHORISED', pass: true },
  },
];

// ---------------------------------------------------------------------------------- options
function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      rounds: { type: 'string' },
      warmup: { type: 'string' },
      quick: { type: 'boolean', default: false },
      connections: { type: 'string', default: '50' },
      licenses: { type: 'string', default: '10000' },
      'log-rows': { type: 'string', default: '0' },
      pool: { type: 'string', default: '100000' },
      'max-others': { type: 'string', default: '0.15' },
      scenarios: { type: 'string' },
      json: { type: 'string' },
      'cpu-prof': { type: 'string' },
      baseline: { type: 'string' },
      'no-docs': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP.replace('SCENARIO_IDS', SCENARIOS.map((s) => s.id).join(', ')).replace('MAX_REPEATS', String(MAX_REPEATS)));
    process.exit(0);
  }
  const number = (name, text, { min, integer }) => {
    const n = Number(text);
    if (text === undefined || text.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
      throw new Error(`--${name} must be ${integer ? 'a whole number' : 'a number'} ≥ ${min} (got ${JSON.stringify(text)})`);
    }
    return n;
  };
  const quick = values.quick;
  const options = {
    quick,
    duration: number('duration', values.duration ?? (quick ? '1' : '5'), { min: 0.5 }),
    rounds: number('rounds', values.rounds ?? '2', { min: 1, integer: true }),
    warmup: number('warmup', values.warmup ?? (quick ? '0.5' : '2'), { min: 0 }),
    connections: number('connections', values.connections, { min: 1, integer: true }),
    licenses: number('licenses', values.licenses, { min: 4, integer: true }),
    logRows: number('log-rows', values['log-rows'], { min: 0, integer: true }),
    pool: number('pool', values.pool, { min: 1, integer: true }),
    maxOthers: number('max-others', values['max-others'], { min: 0 }),
    // `npm run` starts scripts in the package root; paths are relative to where it was typed.
    json: values.json ? path.resolve(process.env.INIT_CWD ?? process.cwd(), values.json) : null,
    cpuProf: values['cpu-prof'] ? path.resolve(process.env.INIT_CWD ?? process.cwd(), values['cpu-prof']) : null,
    baseline: values.baseline ? path.resolve(process.env.INIT_CWD ?? process.cwd(), values.baseline) : null,
    // Only a full, unprofiled run of every scenario, of this build alone, is the record.
    docs: !quick && !values['no-docs'] && !values['cpu-prof'] && !values.baseline,
    keep: values.keep,
    scenarios: SCENARIOS.map((s) => s.id),
  };
  if (values.scenarios) {
    const wanted = values.scenarios.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = wanted.filter((id) => !SCENARIOS.some((s) => s.id === id));
    if (unknown.length) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.id).join(', ')}`);
    options.scenarios = wanted;
  }
  if (options.scenarios.length !== SCENARIOS.length) options.docs = false;
  if (options.baseline) {
    if (options.cpuProf) throw new Error('--baseline and --cpu-prof cannot be combined (profiles are kept per database)');
    for (const part of ['bin/keyward.js', 'dist/server.js', 'package.json']) {
      if (!existsSync(path.join(options.baseline, part))) {
        throw new Error(`--baseline ${options.baseline}: no ${part} there (give the root of another Keyward checkout, built with npm run build)`);
      }
    }
  }
  return options;
}

// ---------------------------------------------------------------------------------- processes
const children = new Set();
let pinned = false;

function canPin() {
  if ((os.availableParallelism?.() ?? os.cpus().length) < 2) return false;
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    execFileSync('taskset', ['-c', '1', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Spawns `cmd` on one CPU (taskset -c CPU) when pinning is available; remembers it for cleanup. */
function spawnOn(cpu, cmd, args, options) {
  const child = pinned ? spawn('taskset', ['-c', String(cpu), cmd, ...args], options) : spawn(cmd, args, options);
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

function killChildren() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

function exited(child, timeoutMs) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ code: null, signal: null, timedOut: true }), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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

/** VmRSS of a process in KiB (null once it has gone). */
function rssKiB(pid) {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Copies a compiled Keyward (bin/, dist/, package.json) into the run's directory, to be used
 * throughout, so a rebuild of dist/ while the benchmark runs (tests, a watcher) cannot mix two
 * versions of the server, its CLI and the seeding code. Everything else at the top of the checkout
 * (node_modules, the templates under src/, ...) is linked, not copied; a checkout without its own
 * node_modules (a git worktree, say) uses this one's.
 */
function snapshotApp(source, into) {
  mkdirSync(into, { recursive: true });
  const copied = new Set(['dist', 'bin', 'package.json']);
  const names = new Set(readdirSync(source));
  for (const name of names) {
    if (name === '.git' || name === '.env') continue;
    if (copied.has(name)) cpSync(path.join(source, name), path.join(into, name), { recursive: true });
    else symlinkSync(path.join(source, name), path.join(into, name));
  }
  if (!names.has('node_modules')) symlinkSync(path.join(ROOT, 'node_modules'), path.join(into, 'node_modules'));
  return { appRoot: into, bin: path.join(into, 'bin', 'keyward.js') };
}

/** Runs `fn` with the seeding code loaded from `target`'s build (the baseline's, or this one's). */
async function withApp(target, fn) {
  setAppRoot(target.appRoot ?? APP.appRoot);
  try {
    return await fn();
  } finally {
    setAppRoot(APP.appRoot);
  }
}

const pct = (x) => (x === null || x === undefined ? '-' : `${Math.round(x * 100)}%`);

/** Busy ticks per CPU from /proc/stat ({ all, cpu0, cpu1, ... }). */
function cpuBusyTicks() {
  const busy = {};
  try {
    for (const row of readFileSync('/proc/stat', 'utf8').split('\n')) {
      const m = /^(cpu\d*)\s+(.*)$/.exec(row);
      if (!m) continue;
      const [user, nice, system, , , irq, softirq, steal] = m[2].split(/\s+/).map(Number);
      busy[m[1] === 'cpu' ? 'all' : m[1]] = user + nice + system + irq + softirq + (steal || 0);
    }
  } catch {
    /* not Linux */
  }
  return busy;
}

function cpuSnapshot(serverPid, loaderPid, withDatabase) {
  const self = process.cpuUsage();
  return {
    at: performance.now(),
    cores: cpuBusyTicks(),
    server: cpuTicks(serverPid),
    loader: cpuTicks(loaderPid),
    db: withDatabase ? postgresTicks() : null,
    self: (self.user + self.system) / 1e6,
  };
}

/**
 * Shares of a core over a run: the server's; PostgreSQL's (all its processes, on any CPU); and
 * what processes other than these, the load generator and this script took (on the server's CPU
 * when pinned, else on all CPUs): other work on the machine disturbs the benchmark.
 */
function cpuShares(a, b) {
  const secs = (b.at - a.at) / 1000;
  const ticks = (k) => (a.cores[k] !== undefined && b.cores[k] !== undefined ? b.cores[k] - a.cores[k] : null);
  const server = a.server !== null && b.server !== null ? (b.server - a.server) / CLK_TCK : null;
  const loader = a.loader !== null && b.loader !== null ? (b.loader - a.loader) / CLK_TCK : null;
  const db = a.db && b.db ? postgresSecondsBetween(a.db, b.db) : null;
  let other = null;
  if (server !== null) {
    // The database is not pinned; what it did on the server's CPU is not "other" work.
    if (pinned && ticks('cpu0') !== null) other = Math.max(0, ticks('cpu0') / CLK_TCK - server - (db ?? 0)) / secs;
    else if (ticks('all') !== null && loader !== null) other = Math.max(0, ticks('all') / CLK_TCK - server - loader - (db ?? 0) - (b.self - a.self)) / secs;
  }
  return { serverCpu: server === null ? null : server / secs, dbCpu: db === null ? null : db / secs, otherCpu: other };
}

/**
 * Waits (at most `maxMs`) until, over one second, processes other than ours took no more than
 * `share` of the servers' CPU (CPU 0 when pinned, else the whole machine).
 */
async function waitForQuiet(ourPids, share, maxMs) {
  const deadline = Date.now() + maxMs;
  const ours = () => ourPids.reduce((n, pid) => n + (cpuTicks(pid) ?? 0), 0);
  const core = pinned ? 'cpu0' : 'all';
  while (Date.now() < deadline) {
    const a = cpuBusyTicks()[core];
    const oursA = ours();
    await sleep(1000);
    const b = cpuBusyTicks()[core];
    if (a === undefined || b === undefined) return;
    if ((b - a - (ours() - oursA)) / CLK_TCK <= share * (pinned ? 1 : os.cpus().length)) return;
  }
}

// ---------------------------------------------------------------------------------- the CLI
function cli(target, env, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [target.bin ?? APP.bin, ...args], { env, cwd: target.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`keyward ${args.join(' ')} failed (${code}): ${stderr.trim()}`));
      try {
        resolve(JSON.parse(stdout));
      } catch {
        reject(new Error(`keyward ${args.join(' ')} printed no JSON: ${stdout.slice(0, 200)}`));
      }
    });
  });
}

async function inBatches(items, size, work) {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(work));
}

// ---------------------------------------------------------------------------------- targets
function targetEnv(target) {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? os.tmpdir(),
    DATABASE_URL: target.databaseUrl,
    DATA_DIR: target.dir,
    KEYWARD_SECRET: SECRET,
    PUBLIC_URL,
    LOG_LEVEL: 'info',
    CHECK_FAIL_LIMIT,
  };
}

/** Products and the benchmarked licenses through the CLI, the bulk seeded; records the totals before any load (target.totalsBefore). */
async function prepareDatabase(target, options, tmp, poolState, log) {
  const env = targetEnv(target);
  const t0 = Date.now();
  const [first, ...rest] = PRODUCTS;
  await cli(target, env, ['product', 'create', '--name', `Bench product ${first}`, '--id', String(first), '--json']);
  await inBatches(rest, 4, (id) => cli(target, env, ['product', 'create', '--name', `Bench product ${id}`, '--id', String(id), '--json']));
  const licenses = {};
  for (const [label, products] of [
    ['single', [SINGLE_PRODUCT]],
    ['bundle', BUNDLE],
    ['v1', [SINGLE_PRODUCT]],
    ['nonce', [SINGLE_PRODUCT]],
  ]) {
    const args = ['license', 'create', ...products.flatMap((p) => ['--product', String(p)]), '--note', `bench: ${label}`, '--json'];
    const created = await cli(target, env, args);
    if (typeof created.key !== 'string' || !Number.isInteger(created.id)) throw new Error(`license create printed no id/key: ${JSON.stringify(created)}`);
    licenses[label] = { id: created.id, key: created.key };
  }
  log(`  ${target.title}: ${PRODUCTS.length} products and 4 licenses created with the CLI (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  if (SCENARIOS.some((s) => s.license === 'policy' && options.scenarios.includes(s.id))) {
    licenses.policy = await createPolicyLicense(targetEnv(target), { productId: SINGLE_PRODUCT, maxMachines: POLICY_MACHINES, note: 'bench: policy' });
    log(`  ${target.title}: policy ${licenses.policy.policyId} (${POLICY_MACHINES} machines) and license ${licenses.policy.id} issued from it`);
  }
  const seedCount = Math.max(0, options.licenses - Object.keys(licenses).length);
  const t1 = Date.now();
  const poolSize = Math.min(options.pool, seedCount);
  const seeded = await seedDatabase({
    env,
    licenses: seedCount,
    logRows: options.logRows,
    productId: SINGLE_PRODUCT,
    poolSize,
    poolFile: poolState.file ? null : path.join(tmp, 'pool-keys.txt'),
    poolKeys: poolState.keys,
    print: log,
  });
  if (!poolState.file && poolSize > 0) {
    poolState.file = path.join(tmp, 'pool-keys.txt');
    poolState.keys = seeded.keys;
  }
  if (seedCount > 0 || options.logRows > 0) {
    log(`  ${target.title}: seeded ${seedCount.toLocaleString('en-US')} licenses and ${options.logRows.toLocaleString('en-US')} Previous Auths rows (${((Date.now() - t1) / 1000).toFixed(1)} s)`);
  }
  target.licenses = licenses;
  target.seeded = { firstId: seeded.firstId, lastId: seeded.lastId, poolSize };
  target.totalsBefore = await readTotals(env, target.seeded);
}

async function startKeyward(target, options) {
  const port = await freePort();
  const logFile = path.join(target.dir, 'server.log');
  const fd = openSync(logFile, 'a');
  const nodeArgs = cpuProfArgs(options.cpuProf, target.dialect);
  const child = spawnOn(0, process.execPath, [...nodeArgs, target.bin ?? APP.bin, 'serve'], {
    env: { ...targetEnv(target), HOST: '127.0.0.1', PORT: String(port) },
    cwd: target.dir,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  target.child = child;
  target.logFile = logFile;
  target.url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const res = await fetch(`${target.url}/healthz`);
      if (res.ok) return;
    } catch {
      /* not listening yet */
    }
    await sleep(100);
  }
  throw new Error(`${target.title} did not become ready; its log (${logFile}):\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
}

/** `node --cpu-prof` into DIR/NAME when profiling (DIR set), else nothing. */
function cpuProfArgs(dir, name) {
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(dir, name)}`] : [];
}

async function startBare(rules, tmp, cpuProf) {
  const rulesFile = path.join(tmp, 'bare-rules.json');
  writeFileSync(rulesFile, JSON.stringify(rules, null, 2));
  // Profiled too when Keyward is, so the two profiles can be compared function by function.
  const nodeArgs = cpuProfArgs(cpuProf, 'bare');
  const child = spawnOn(0, process.execPath, [...nodeArgs, path.join(ROOT, 'bench', 'bare-server.mjs'), rulesFile], {
    cwd: tmp,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the bare server did not start')), 10_000);
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n')[0];
      if (out.includes('\n')) {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(line).port);
        } catch (err) {
          reject(err);
        }
      }
    });
    child.on('exit', () => reject(new Error('the bare server exited')));
  });
  child.stdout.resume();
  return { id: 'bare', title: 'bare node:http', dialect: null, child, url: `http://127.0.0.1:${port}` };
}

// ---------------------------------------------------------------------------------- requests
function keyFor(target, scenario, poolState) {
  if (scenario.id === 'single-notfound') return UNKNOWN_KEY;
  if (scenario.license === 'pool') return poolState.keys[0];
  return target.licenses[scenario.license].key;
}

function headersFor(key, scenario) {
  const headers = { 'user-agent': 'keyward-bench', accept: 'application/json, text/plain, */*', authorization: key };
  if (scenario.body !== undefined) headers['content-type'] = 'application/json';
  else headers['content-length'] = '0';
  return headers;
}

/** Sent by Keyward with every answer; the bare server repeats the captured values verbatim. */
const SIGNATURE_HEADERS = ['x-keyward-signature', 'x-keyward-key-id', 'x-keyward-date'];

/**
 * Real requests, to learn (and check) the exact bytes a scenario is answered with: one, or one per
 * fingerprint, which activates each machine before the load (all must be answered alike).
 * `requests` is how many were sent (they count towards the license's totalChecks).
 */
async function capture(url, scenario, key) {
  const fingerprints = fingerprintsOf(scenario);
  if (fingerprints.length === 0) return { ...(await captureOne(url, scenario, scenario.path, key)), requests: 1 };
  let first;
  for (const fingerprint of fingerprints) {
    const got = await captureOne(url, scenario, withFingerprint(scenario, fingerprint), key);
    first ??= got;
    if (got.body !== first.body) throw new Error(`${scenario.title}: machine ${fingerprint} answered ${got.body}, machine ${fingerprints[0]} ${first.body}`);
  }
  // Once more, now a known machine: the bytes every request of the load must be answered with.
  const known = await captureOne(url, scenario, withFingerprint(scenario, fingerprints[0]), key);
  return { ...known, requests: fingerprints.length + 1 };
}

async function captureOne(url, scenario, path_, key) {
  const body = scenario.body?.replaceAll('[<id>]', randomBytes(16).toString('hex'));
  const headers = headersFor(key, scenario);
  delete headers['content-length'];
  const res = await fetch(`${url}${path_}`, { method: 'POST', headers, body: body ?? '' });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  const wrong = res.status !== 200 || !json || Object.entries(scenario.expect).some(([k, v]) => json[k] !== v);
  if (wrong) throw new Error(`${scenario.title}: expected 200 ${JSON.stringify(scenario.expect)}, got ${res.status} ${text}`);
  const signature = {};
  for (const name of SIGNATURE_HEADERS) if (res.headers.has(name)) signature[name] = res.headers.get(name);
  return { body: text, signed: res.headers.has('x-keyward-signature'), headers: signature };
}

// ---------------------------------------------------------------------------------- the loader
class Loader {
  async start() {
    this.child = spawnOn(1, process.execPath, [path.join(ROOT, 'bench', 'load.mjs')], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.pending = new Map();
    this.next = 0;
    const ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the load generator did not start')), 15_000);
      this.child.once('message', (m) => {
        clearTimeout(timer);
        if (m?.type === 'ready') resolve();
        else reject(new Error(`unexpected first message from the load generator: ${JSON.stringify(m)}`));
      });
    });
    this.child.on('message', (m) => {
      if (m?.type !== 'result') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.error) p.reject(new Error(`load generator: ${m.error}`));
      else p.resolve(m.result);
    });
    this.child.on('exit', (code, signal) => {
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error(`the load generator exited (${code ?? signal})`));
      }
      this.pending.clear();
    });
    await ready;
  }

  run(job, timeoutMs) {
    const id = ++this.next;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`a load job took longer than ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.child.send({ type: 'job', id, job });
    });
  }

  async stop() {
    if (!this.child || this.child.exitCode !== null) return;
    if (this.child.connected) this.child.send({ type: 'exit' });
    const r = await exited(this.child, 5000);
    if (r.timedOut) this.child.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------------------------- main
async function main() {
  let options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`bench: ${err.message}`);
    return 2;
  }
  if (!existsSync(path.join(ROOT, 'dist', 'cli', 'main.js')) || !existsSync(path.join(ROOT, 'dist', 'services.js'))) {
    console.error('bench: dist/ is missing; run `npm run build` first (or use `npm run bench`, which builds).');
    return 2;
  }
  const log = (line) => console.log(line);
  const machine = hardware(); // before pinning: nproc counts only the CPUs a process may use
  pinned = canPin();
  if (pinned) {
    // This script shares CPU 1 with the load generator; CPU 0 is the server's alone.
    try {
      execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
    } catch {
      /* not fatal */
    }
  }
  const scenarios = SCENARIOS.filter((s) => options.scenarios.includes(s.id));
  const startedAt = new Date().toISOString();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'keyward-bench-'));
  const pgBase = process.env.BENCH_DATABASE_URL || null;
  const targets = [];
  const poolState = { file: null, keys: null };
  const loader = new Loader();
  let bare = null;
  let pgVersion = null;
  const runs = {};
  const counters = [];
  const serverExits = {};
  let failed = false;

  const cleanup = async () => {
    killChildren();
    for (const t of targets) {
      if (t.schema && !options.keep) await dropPostgresSchema(pgBase, t.schema).catch((err) => console.error(`bench: could not drop schema ${t.schema}: ${err.message}`));
    }
    if (options.keep) log(`Kept ${tmp}${targets.some((t) => t.schema) ? ` and schema(s) ${targets.filter((t) => t.schema).map((t) => t.schema).join(', ')}` : ''}`);
    else rmSync(tmp, { recursive: true, force: true });
  };
  let interrupted = false;
  const onSignal = (signal) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\nbench: ${signal}, stopping`);
    cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    log(`Keyward benchmark: ${options.quick ? 'QUICK smoke run' : 'full run'}; data in ${tmp}`);
    APP = snapshotApp(ROOT, path.join(tmp, 'app'));
    setAppRoot(APP.appRoot);
    if (!pinned) log('WARNING: cannot pin processes to CPUs (taskset missing or fewer than 2 CPUs); figures will be noisier.');
    if (options.cpuProf) {
      mkdirSync(options.cpuProf, { recursive: true });
      log(`Profiling Keyward with --cpu-prof into ${options.cpuProf} (profiling slows it down: do not compare these figures).`);
    }

    // 1. Databases and Keyward servers: this build on SQLite (and PostgreSQL), and with --baseline
    // another build beside it on each, on a database of its own (its own CLI, migrations, seeding).
    const builds = [{ id: 'keyward', title: 'Keyward' }];
    if (options.baseline) {
      builds.push({ id: 'baseline', title: 'Keyward baseline', build: 'baseline', ...snapshotApp(options.baseline, path.join(tmp, 'baseline-app')) });
      log(`  baseline: the build in ${options.baseline}`);
    }
    const addTarget = (b, dialect, database) => {
      const dir = path.join(tmp, b.id === 'keyward' ? dialect : `${b.id}-${dialect}`);
      mkdirSync(dir, { recursive: true });
      const { id, title, ...app } = b;
      const kind = dialect === 'postgres' ? 'PostgreSQL' : 'SQLite';
      targets.push({ id: `${id}-${dialect}`, title: `${title}, ${kind}`, dialect, dir, ...app, ...database(dir) });
    };
    for (const b of builds) addTarget(b, 'sqlite', (dir) => ({ databaseUrl: `sqlite:${path.join(dir, 'keyward.db')}` }));
    if (pgBase) {
      for (const b of builds) {
        const created = await createPostgresSchema(pgBase, 'kw_bench');
        pgVersion = created.version;
        addTarget(b, 'postgres', () => ({ databaseUrl: created.url, schema: created.schema }));
      }
    }
    log('Preparing databases:');
    for (const t of targets) await withApp(t, () => prepareDatabase(t, options, tmp, poolState, log));
    if (options.licenses > 10_000 || options.logRows > 0) {
      // Gigabytes just seeded are still being written back to disk; let that finish first.
      const t0 = Date.now();
      execFileSync('sync');
      log(`  seeded data flushed to disk (sync, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }
    const activeScenarios = scenarios.filter((s) => s.license !== 'pool' || poolState.keys?.length);
    if (activeScenarios.length < scenarios.length) log('  (no seeded licenses: skipping the many-keys scenario)');
    for (const t of targets) {
      await startKeyward(t, options);
      t.idleRssMB = (rssKiB(t.child.pid) ?? 0) / 1024;
      log(`  ${t.title} serving on ${t.url} (pid ${t.child.pid}, RSS ${t.idleRssMB.toFixed(0)} MB)`);
    }

    // 2. The exact answers, learned from Keyward, and the bare server that repeats them.
    const answers = {};
    const answerHeaders = {};
    let signed = false;
    for (const t of targets) {
      t.completed = Object.fromEntries(activeScenarios.map((s) => [s.id, 0]));
      for (const s of activeScenarios) {
        const got = await capture(t.url, s, keyFor(t, s, poolState));
        t.completed[s.id] += got.requests;
        signed ||= got.signed;
        if (answers[s.id] === undefined) {
          answers[s.id] = got.body;
          answerHeaders[s.id] = got.headers;
        }
        else if (answers[s.id] !== got.body) log(`  NOTE: ${t.title} answers ${s.id} with different bytes: ${got.body}`);
      }
    }
    const first = targets[0];
    const rules = [];
    for (const s of activeScenarios) {
      const path_ = s.path.split('?')[0];
      const rule = { path: path_, body: answers[s.id], headers: answerHeaders[s.id] };
      if (s.id === 'single-notfound') rules.push({ ...rule, authorization: UNKNOWN_KEY });
      else if (!rules.some((r) => r.path === path_ && r.authorization === undefined)) rules.push(rule);
    }
    bare = await startBare(rules, tmp, options.cpuProf);
    bare.idleRssMB = (rssKiB(bare.child.pid) ?? 0) / 1024;
    log(`  bare node:http serving on ${bare.url} (pid ${bare.child.pid})`);
    log(`  answers are ${signed ? '' : 'NOT '}signed (X-Keyward-Signature)`);
    const all = [bare, ...targets];
    // Machines activated above were last seen before this; each must be seen again under load.
    const loadStartedAt = Date.now();
    await loader.start();

    // 3. Load: per scenario, a warm-up per target, then rounds alternating targets (A/B/A/B).
    const measure = async (target, scenario, seconds, phase) => {
      const key = keyFor(target.id === 'bare' ? first : target, scenario, poolState);
      const job = {
        url: target.url,
        method: 'POST',
        path: scenario.path,
        // Connection i sends fingerprint i mod N (scenarios with fingerprints).
        paths: scenario.fingerprints ? fingerprintsOf(scenario).map((f) => withFingerprint(scenario, f)) : undefined,
        headers: headersFor(key, scenario),
        body: scenario.body,
        nonces: scenario.nonces,
        salt: scenario.nonces ? RUN_ID : undefined,
        keysFile: scenario.license === 'pool' ? poolState.file : undefined,
        connections: options.connections,
        duration: seconds,
        expectBody: answers[scenario.id],
        timeoutSec: 10,
      };
      const pid = target.child.pid;
      let peak = rssKiB(pid) ?? 0;
      const sampler = setInterval(() => {
        peak = Math.max(peak, rssKiB(pid) ?? 0);
      }, 200);
      const before = cpuSnapshot(pid, loader.child.pid, target.dialect === 'postgres');
      let result;
      try {
        result = await loader.run(job, (seconds + 60) * 1000);
      } finally {
        clearInterval(sampler);
      }
      peak = Math.max(peak, rssKiB(pid) ?? 0);
      Object.assign(result, cpuShares(before, cpuSnapshot(pid, loader.child.pid, target.dialect === 'postgres')));
      result.phase = phase;
      result.rssPeakMB = peak / 1024;
      if (target.completed) target.completed[scenario.id] += result.completed;
      ((runs[target.id] ??= {})[scenario.id] ??= []).push(result);
      return result;
    };
    const line = (target, label, r) =>
      `    ${label.padEnd(9)} ${target.title.padEnd(20)} ${Math.round(r.rps).toLocaleString('en-US').padStart(7)} req/s  p50 ${r.latency.p50.toFixed(2)} ms  p99 ${r.latency.p99.toFixed(2)} ms  RSS ${r.rssPeakMB.toFixed(0)} MB  CPU server ${pct(r.serverCpu)}${r.dbCpu === null ? '' : ` db ${pct(r.dbCpu)}`} loader ${pct(r.loaderCpu)} others ${pct(r.otherCpu)}${r.non2xx || r.errors || r.mismatches ? `  non-2xx ${r.non2xx} errors ${r.errors} wrong bodies ${r.mismatches}` : ''}`;

    for (const s of activeScenarios) {
      log(`\n${s.title}:`);
      if (options.warmup > 0) {
        for (const t of all) log(line(t, 'warm-up', await measure(t, s, options.warmup, 'warmup')));
      }
      for (let round = 1; round <= options.rounds; round++) {
        // Every other round runs the targets in reverse (A B, B A, A B, ...): a steady drift of the
        // host's speed then favours each target as often as it hurts it in the round-by-round ratios.
        for (const t of round % 2 ? all : [...all].reverse()) {
          // A round in which other processes took much of the server's CPU is measured again.
          for (let attempt = 1; ; attempt++) {
            const r = await measure(t, s, options.duration, 'round');
            r.round = round;
            log(line(t, `round ${round}`, r));
            if (r.otherCpu === null || r.otherCpu <= options.maxOthers || attempt > MAX_REPEATS) break;
            r.phase = 'disturbed';
            log(`    (other processes took ${pct(r.otherCpu)} of the server's CPU: round discarded, measuring again)`);
            await waitForQuiet(all.map((x) => x.child.pid), options.maxOthers, 60_000);
          }
        }
      }
    }
    await loader.stop();

    // 4. Graceful stop, then the counters.
    bare.child.kill('SIGTERM');
    await exited(bare.child, 5000);
    log('\nStopping Keyward (SIGTERM) and reading the counters...');
    for (const t of targets) {
      t.child.kill('SIGTERM');
      const r = await exited(t.child, 30_000);
      serverExits[t.id] = r;
      if (r.timedOut) {
        t.child.kill('SIGKILL');
        failed = true;
        log(`  ${t.title} did not stop within 30 s of SIGTERM`);
      } else if (r.code !== 0) {
        failed = true;
        log(`  ${t.title} exited with ${r.code ?? r.signal}; log tail:\n${readFileSync(t.logFile, 'utf8').slice(-1500)}`);
      }
    }
    for (const t of targets) {
      const env = targetEnv(t);
      const count = (ids) => activeScenarios.filter((s) => ids.includes(s.license)).reduce((n, s) => n + t.completed[s.id], 0);
      for (const [label, { id }] of Object.entries(t.licenses)) {
        const shown = await cli(t, env, ['license', 'show', String(id), '--json']);
        const uses = activeScenarios.filter((s) => s.license === label).map((s) => s.id);
        counters.push({ target: t.title, what: `license ${id} (${label}${uses.length ? `: ${uses.join(', ')}` : ', unused'}) totalChecks`, expected: count([label]), found: shown.totalChecks });
      }
      if (t.licenses.policy) {
        // No machine beyond the activated ones, and each one's sightings written behind.
        const { id } = t.licenses.policy;
        const machines = await withApp(t, () => readMachines(env, id, loadStartedAt));
        counters.push({ target: t.title, what: `license ${id} (policy) machines`, expected: POLICY_MACHINES, found: machines.count });
        counters.push({ target: t.title, what: `license ${id} (policy) machines last seen during the load`, expected: POLICY_MACHINES, found: machines.seenSince });
      }
      const after = await withApp(t, () => readTotals(env, t.seeded));
      if (activeScenarios.some((s) => s.license === 'pool')) {
        counters.push({ target: t.title, what: `seeded licenses (many-keys) sum of totalChecks`, expected: count(['pool']), found: after.rangeChecks - t.totalsBefore.rangeChecks });
      }
      const total = activeScenarios.reduce((n, s) => n + (s.logged === false ? 0 : t.completed[s.id]), 0);
      counters.push({ target: t.title, what: 'new Previous Auths rows', expected: total, found: after.logRows - t.totalsBefore.logRows });
      if (activeScenarios.some((s) => s.id === 'single-notfound')) {
        counters.push({ target: t.title, what: 'new Previous Auths rows of unknown keys', expected: t.completed['single-notfound'], found: after.unknownKeyLogRows - t.totalsBefore.unknownKeyLogRows });
      }
    }
    for (const c of counters) c.ok = c.expected === c.found;

    // 5. Report.
    const summary = {};
    for (const t of all) {
      summary[t.id] = {};
      for (const s of activeScenarios) {
        const measured = (runs[t.id]?.[s.id] ?? []).filter((r) => r.phase === 'round');
        if (measured.length) summary[t.id][s.id] = summarise(measured);
      }
    }
    const result = {
      command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      commit: gitCommit(),
      startedAt,
      finishedAt: new Date().toISOString(),
      options: { ...options, json: undefined, scenarios: activeScenarios.map((s) => s.id), postgres: Boolean(pgBase) },
      pinned,
      hardware: { ...machine, postgres: pgVersion },
      serverEnv: { PUBLIC_URL, LOG_LEVEL: 'info', CHECK_FAIL_LIMIT, HOST: '127.0.0.1' },
      signedAnswers: signed,
      targets: all.map((t) => ({ id: t.id, title: t.title, dialect: t.dialect, idleRssMB: t.idleRssMB, build: t.build })),
      scenarios: activeScenarios.map((s) => ({ id: s.id, title: s.title, method: 'POST', path: s.path, fingerprints: fingerprintsOf(s), body: s.body ?? null, answer: answers[s.id] })),
      summary,
      runs,
      counters,
      serverExits,
    };
    result.goals = goals(result);
    printReport(result, log);

    const bad = Object.values(summary).flatMap((s) => Object.values(s)).some((m) => m.non2xx > 0 || m.errors > 0);
    const warmBad = Object.values(runs).flatMap((s) => Object.values(s).flat()).some((r) => r.non2xx > 0 || r.errors > 0 || r.mismatches > 0 || r.timeouts > 0);
    if (bad || warmBad) {
      failed = true;
      log('\nFAILED: some answers were not 2xx, had the wrong body, or failed.');
    }
    if (counters.some((c) => !c.ok)) {
      failed = true;
      log('\nFAILED: the counters do not match the requests completed.');
    }
    if (options.json) {
      writeFileSync(options.json, `${JSON.stringify(result, null, 2)}\n`);
      log(`\nWrote ${options.json}`);
    }
    if (options.docs) {
      writeDocs(path.join(ROOT, 'docs', 'benchmarks.md'), result);
      log('Wrote docs/benchmarks.md');
    }
    if (options.cpuProf) {
      const profiles = (t) => {
        const dir = path.join(options.cpuProf, t.dialect);
        return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(dir, f)) : [];
      };
      // The main thread's profile (CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile, thread 0) and
      // every request the process answered while profiled (warm-ups and repeated rounds included).
      const mainProfile = (t) => {
        const file = profiles(t).find((f) => path.basename(f).split('.')[4] === '0');
        const requests = Object.values(runs[t.id] ?? {}).flat().reduce((n, r) => n + r.completed, 0);
        return file ? { file, requests, title: t.title } : null;
      };
      const bareSide = { id: 'bare', title: 'bare node:http', dialect: 'bare' };
      for (const t of [bareSide, ...targets]) {
        for (const file of profiles(t)) log(`\n${t.title}: ${formatProfileSummary(summariseProfile(file, 20))}`);
      }
      const bareProfile = mainProfile(bareSide);
      for (const t of targets) {
        const own = mainProfile(t);
        if (bareProfile && own) log(`\n${formatComparison(compareProfiles(bareProfile, own, 30))}`);
      }
    }
  } catch (err) {
    failed = true;
    console.error(`\nbench: ${err.stack ?? err}`);
    for (const t of targets) {
      if (t.logFile && existsSync(t.logFile)) console.error(`--- ${t.title} log tail ---\n${readFileSync(t.logFile, 'utf8').slice(-1500)}`);
    }
  } finally {
    await loader.stop().catch(() => {});
    await cleanup();
  }
  return failed ? 1 : 0;
}

function gitCommit() {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'bin', 'package.json'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${sha} + uncommitted changes` : sha;
  } catch {
    return 'unknown';
  }
}

function hardware() {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  let cpuCount = os.cpus().length;
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(info)?.[1] ?? cpuModel;
    cpuCount = (info.match(/^processor\s*:/gm) ?? []).length || cpuCount;
  } catch {
    /* not Linux */
  }
  const run = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return null;
    }
  };
  let autocannon = 'unknown';
  try {
    autocannon = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', 'autocannon', 'package.json'), 'utf8')).version;
  } catch {
    /* not installed? then the run failed long ago */
  }
  return {
    cpuModel,
    cpuCount,
    nproc: Number(run('nproc', [])?.trim()) || os.availableParallelism?.() || cpuCount,
    free: run('free', ['-m']) ?? `total memory ${Math.round(os.totalmem() / 2 ** 20)} MiB`,
    kernel: os.release(),
    node: process.version,
    autocannon,
  };
}

process.exitCode = await main();
