// Fast seeding of a benchmark database, and the read-back queries of the counter check.
//
// `keyward` has no bulk command and issuing 10k (or 1M) licenses one CLI call at a time would
// take hours, so the bulk is written here through the project's own compiled storage layer:
// `openServices(loadConfig(env))` opens (and migrates) the database exactly as the server does,
// keys come from `generateKey`/`digestKey` and are encrypted with `KeyCipher`, so every seeded
// license is as real as one the CLI issues. Rows go in as multi-row INSERTs, many per
// transaction. The licenses the benchmark checks by id are still created through the CLI.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let appRoot = ROOT;
/** Where the compiled Keyward (its dist/) is loaded from: run.mjs points this at its snapshot. */
export function setAppRoot(dir) {
  appRoot = dir;
}
const dist = (file) => import(pathToFileURL(path.join(appRoot, 'dist', file)).href);

const LICENSE_BATCH = 1000; // 12-13 columns a row: at most 13,000 bound parameters, under both dialects' limits
const MACHINE_BATCH = 2000; // 8 columns a row: 16,000 bound parameters
const LOG_BATCH = 2000; // 7 columns a row: 14,000 bound parameters
const ROWS_PER_TRANSACTION = 50_000;

/** The opened database (`storage`), the domain's `services`, and how to close them. */
export async function openKeyward(env) {
  const [{ loadConfig }, { openServices }] = await Promise.all([dist('config.js'), dist('services.js')]);
  // Only the given environment: no .env file, nothing from the developer's shell.
  const opened = await openServices(loadConfig(env, { dotenv: false }));
  // A baseline build from before openServices returned { services, internal } returns the services.
  if (!opened.internal) return { ...opened, services: opened, close: () => opened.close() };
  return { storage: opened.internal.storage, services: opened.services, close: () => opened.services.close() };
}

/** A progress printer that speaks at most every 2 s (and at the end). */
function progress(label, total, print) {
  const started = Date.now();
  let lastAt = 0;
  return (done) => {
    const now = Date.now();
    if (done < total && now - lastAt < 2000) return;
    lastAt = now;
    const secs = (now - started) / 1000;
    const rate = secs > 0 ? Math.round(done / secs) : 0;
    print(`  ${label}: ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} (${((100 * done) / total).toFixed(0)}%, ${rate.toLocaleString('en-US')} rows/s)`);
  };
}

/**
 * Adds `licenses` licenses granting `productId` and `logRows` Previous Auths rows spread over
 * them (and over the last 30 days). The first `poolSize` keys are written, one a line, to
 * `poolFile` for the many-keys scenario (pass `poolKeys` to reuse keys seeded into another
 * database). With `policyId` each license names that policy and holds `machinesPerLicense`
 * machines (fp-0, fp-1, ..., seen within the last hour); with `ownerIds` they are owned in turn by
 * those users. Returns the id range of the seeded licenses and the keys written.
 */
export async function seedDatabase({ env, licenses, logRows, productId, poolSize = 0, poolFile, poolKeys, policyId, machinesPerLicense = 0, ownerIds, print = console.log }) {
  const [{ generateKey, digestKey, KeyCipher }] = await Promise.all([dist('licensing/key.js')]);
  const opened = await openKeyward(env);
  const { db, dialect } = opened.storage;
  const cipher = new KeyCipher(env.KEYWARD_SECRET);
  try {
    const max = await db.selectFrom('licenses').select((eb) => eb.fn.max('id').as('max')).executeTakeFirst();
    const firstId = Number(max?.max ?? 0) + 1;
    const keys = [];
    const out = poolFile ? createWriteStream(poolFile, { mode: 0o600 }) : null;
    const now = Date.now();
    const day = 86_400_000;
    const licenseProgress = progress('licenses', licenses, print);
    let done = 0;
    while (done < licenses) {
      const inThisTransaction = Math.min(ROWS_PER_TRANSACTION, licenses - done);
      await db.transaction().execute(async (trx) => {
        for (let b = 0; b < inThisTransaction; b += LICENSE_BATCH) {
          const count = Math.min(LICENSE_BATCH, inThisTransaction - b);
          const rows = [];
          const links = [];
          const machines = [];
          for (let i = 0; i < count; i++) {
            const index = done + b + i;
            const id = firstId + index;
            const key = poolKeys?.[index] ?? generateKey();
            if (index < poolSize) {
              keys.push(key);
              if (out && !out.write(`${key}\n`)) await once(out, 'drain');
            }
            const created = now - Math.floor(Math.random() * 365) * day;
            const row = {
              id,
              key_digest: digestKey(key),
              key_cipher: cipher.encrypt(key),
              owner_id: ownerIds ? ownerIds[index % ownerIds.length] : null,
              active: 1,
              disabled: 0,
              ip_locked: 0,
              ips: '[]',
              expires_at: null,
              note: null,
              created_at: created,
              updated_at: created,
            };
            // Only when asked: a baseline build from before policies has no such column.
            if (policyId !== undefined) row.policy_id = policyId;
            rows.push(row);
            links.push({ license_id: id, product_id: productId, position: 0 });
            for (let m = 0; m < machinesPerLicense; m++) {
              const seen = now - Math.floor(Math.random() * 3_600_000);
              machines.push({
                license_id: id,
                fingerprint: `fp-${m}`,
                name: `Server ${m + 1}`,
                platform: 'linux',
                hostname: `host-${id}-${m}`,
                ip: `10.${(id >> 8) & 255}.${id & 255}.${m + 1}`,
                created_at: seen - day,
                last_seen_at: seen,
              });
            }
          }
          await trx.insertInto('licenses').values(rows).execute();
          await trx.insertInto('license_products').values(links).execute();
          for (let m = 0; m < machines.length; m += MACHINE_BATCH) await trx.insertInto('machines').values(machines.slice(m, m + MACHINE_BATCH)).execute();
        }
      });
      done += inThisTransaction;
      licenseProgress(done);
    }
    if (out) {
      out.end();
      await once(out, 'finish');
    }
    const lastId = firstId + licenses - 1;
    if (dialect === 'postgres' && licenses > 0) {
      // Explicit ids do not move the serial sequence; the next CLI-issued license must not collide.
      const { sql } = await import('kysely');
      await sql`select setval(pg_get_serial_sequence('licenses', 'id'), (select max(id) from licenses))`.execute(db);
    }

    if (logRows > 0) {
      const statuses = ['AUTHORISED', 'AUTHORISED', 'AUTHORISED', 'AUTHORISED', 'AUTHORISED', 'AUTHORISED', 'NOT FOUND', 'EXPIRED'];
      const logProgress = progress('Previous Auths rows', logRows, print);
      const start = now - 30 * day;
      let written = 0;
      while (written < logRows) {
        const inThisTransaction = Math.min(ROWS_PER_TRANSACTION * 4, logRows - written);
        await db.transaction().execute(async (trx) => {
          for (let b = 0; b < inThisTransaction; b += LOG_BATCH) {
            const count = Math.min(LOG_BATCH, inThisTransaction - b);
            const rows = new Array(count);
            for (let i = 0; i < count; i++) {
              const index = written + b + i;
              const status = statuses[index & 7];
              const known = status !== 'NOT FOUND' && licenses > 0;
              rows[i] = {
                // Oldest first, like a real log: ids and times rise together.
                time: start + Math.floor(((index + 0.5) / logRows) * 30 * day),
                license_id: known ? firstId + Math.floor(Math.random() * licenses) : null,
                product_id: productId,
                ip: `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`,
                status,
                info: index % 3 === 0 ? 'server-1' : null,
                user_agent: 'PerformHttpRequest',
              };
            }
            await trx.insertInto('auth_logs').values(rows).execute();
          }
        });
        written += inThisTransaction;
        logProgress(written);
      }
    }
    if (licenses > 0 || logRows > 0) {
      const { sql } = await import('kysely');
      // As a database that size would be after autovacuum: statistics, and on PostgreSQL a
      // visibility map and hint bits, so the first measured scenario does not pay for them.
      if (dialect === 'postgres') await sql`vacuum analyze`.execute(db);
      else await sql`analyze`.execute(db);
    }
    return { firstId, lastId, keys };
  } finally {
    await opened.close();
  }
}

/** What the counter check compares: totals over a range of license ids, and the log. */
export async function readTotals(env, { firstId, lastId }) {
  const opened = await openKeyward(env);
  const { db } = opened.storage;
  try {
    const range = lastId >= firstId
      ? await db
          .selectFrom('licenses')
          .select((eb) => eb.fn.sum('total_checks').as('checks'))
          .where('id', '>=', firstId)
          .where('id', '<=', lastId)
          .executeTakeFirst()
      : { checks: 0 };
    const logs = await db.selectFrom('auth_logs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
    const unknown = await db
      .selectFrom('auth_logs')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('license_id', 'is', null)
      .executeTakeFirst();
    return { rangeChecks: Number(range?.checks ?? 0), logRows: Number(logs?.n ?? 0), unknownKeyLogRows: Number(unknown?.n ?? 0) };
  } finally {
    await opened.close();
  }
}

/**
 * A policy granting `productId` with `maxMachines`, and one license issued from it, through the
 * domain's services exactly as the dashboard and the API issue them (the CLI has no policy command
 * to do it with). Returns the license's id and key.
 */
export async function createPolicyLicense(env, { productId, maxMachines, note }) {
  const opened = await openKeyward(env);
  try {
    const { policies, licenses } = opened.services;
    if (!policies) throw new Error('this build has no policies (src/licensing/policy-service.ts): leave the policy scenario out (--scenarios)');
    const policy = await policies.create({ name: `Bench policy, ${maxMachines} machines`, productIds: [productId], maxMachines }, 'bench');
    const license = await licenses.create({ policyId: policy.id, note }, 'bench');
    return { id: license.id, key: license.key, policyId: policy.id };
  } finally {
    await opened.close();
  }
}

/** The machines a license holds, and how many of them were seen at or after `since` (ms). */
export async function readMachines(env, licenseId, since) {
  const opened = await openKeyward(env);
  const { db } = opened.storage;
  try {
    const rows = await db.selectFrom('machines').select(['fingerprint', 'last_seen_at']).where('license_id', '=', licenseId).execute();
    return { count: rows.length, seenSince: rows.filter((r) => Number(r.last_seen_at) >= since).length, fingerprints: rows.map((r) => r.fingerprint).sort() };
  } finally {
    await opened.close();
  }
}
