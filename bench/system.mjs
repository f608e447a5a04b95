// What the benchmark scripts read from the machine (/proc CPU time) and the throw-away
// PostgreSQL schema each run works in. Shared by run.mjs and log-write.mjs.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times. */
export let CLK_TCK = 100;
try {
  CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  /* 100 on every Linux we know */
}

/** CPU time (user + system, all threads) of a process in clock ticks. */
export function cpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

/** CPU ticks of every PostgreSQL server process (pid -> ticks): the database's share of the work. */
export function postgresTicks() {
  const ticks = new Map();
  let pids = [];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return ticks;
  }
  for (const pid of pids) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') continue;
      const t = cpuTicks(pid);
      if (t !== null) ticks.set(pid, t);
    } catch {
      /* gone meanwhile */
    }
  }
  return ticks;
}

/** Seconds of CPU PostgreSQL's processes used between two `postgresTicks()` readings. */
export function postgresSecondsBetween(a, b) {
  let ticks = 0;
  for (const [pid, t] of b) ticks += t - (a.get(pid) ?? 0);
  return ticks / CLK_TCK;
}

/** A fresh schema named `${prefix}_<random>`; `url` reaches it (search_path) on `baseUrl`'s database. */
export async function createPostgresSchema(baseUrl, prefix) {
  const { default: pg } = await import('pg');
  const schema = `${prefix}_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: baseUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    await client.query(`create schema ${schema}`);
    const version = (await client.query('select version() as v')).rows[0].v.split(' on ')[0];
    const url = new URL(baseUrl);
    url.searchParams.set('options', `-c search_path=${schema}`);
    return { schema, url: url.toString(), version };
  } finally {
    await client.end().catch(() => {});
  }
}

export async function dropPostgresSchema(baseUrl, schema) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: baseUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    await client.query(`drop schema if exists ${schema} cascade`);
  } finally {
    await client.end().catch(() => {});
  }
}
