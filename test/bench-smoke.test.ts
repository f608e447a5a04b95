import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';

// The whole benchmark (bench/run.mjs: the built Keyward, its CLI, the seeder, the load generator,
// the counter check and the report), in 1-second rounds: a smoke test of the tool, not a
// measurement. It runs the compiled dist/, which `npm test` builds first.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pgUrl = inject('pgUrl');
const dir = mkdtempSync(path.join(os.tmpdir(), 'keyward-bench-smoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runBench(args: string[]): Promise<{ code: number | null; output: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (pgUrl) env.BENCH_DATABASE_URL = pgUrl;
  else delete env.BENCH_DATABASE_URL;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bench', 'run.mjs'), ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

interface Round {
  phase: string;
  round?: number;
  completed: number;
  non2xx: number;
  mismatches: number;
  errors: number;
}

describe('npm run bench, as a smoke test (1 s rounds)', () => {
  it('serves every target, matches every counter exactly and pairs the rounds', async () => {
    const json = path.join(dir, 'result.json');
    const docs = readFileSync(path.join(ROOT, 'docs', 'benchmarks.md'), 'utf8');
    // policy-machine: a license issued from a policy with 5 machines, checked by 5 known machines.
    const scenarios = ['single-ok', 'policy-machine', 'single-notfound'];
    const { code, output } = await runBench([
      '--quick',
      '--scenarios',
      scenarios.join(','),
      '--licenses',
      '200',
      '--rounds',
      '2',
      // Other tests share the machine: never wait for quiet, never repeat a round.
      '--max-others',
      '1',
      '--json',
      json,
    ]);
    expect(code, output).toBe(0);

    const result = JSON.parse(readFileSync(json, 'utf8'));
    const targets = ['bare', 'keyward-sqlite', ...(pgUrl ? ['keyward-postgres'] : [])];
    expect(result.targets.map((t: { id: string }) => t.id)).toEqual(targets);
    for (const target of targets) {
      for (const scenario of scenarios) {
        const rounds: Round[] = result.runs[target][scenario].filter((r: Round) => r.phase === 'round');
        expect(rounds.map((r) => r.round), `${target} ${scenario}`).toEqual([1, 2]);
        for (const r of rounds) {
          expect(r.completed).toBeGreaterThan(0);
          expect(r.non2xx + r.mismatches + r.errors).toBe(0);
        }
      }
    }
    // Every license's totalChecks and the Previous Auths rows match the requests completed.
    expect(result.counters.length).toBeGreaterThanOrEqual(pgUrl ? 8 : 4);
    expect(result.counters.filter((c: { ok: boolean }) => !c.ok)).toEqual([]);
    // The policy license's own counters: its checks, its 5 machines (no sixth), each seen under load.
    for (const target of targets.slice(1)) {
      const title = result.targets.find((t: { id: string }) => t.id === target).title;
      const policy = result.counters.filter((c: { target: string; what: string }) => c.target === title && c.what.includes('(policy'));
      expect(policy.map((c: { what: string }) => c.what.replace(/license \d+/, 'license N'))).toEqual([
        'license N (policy: policy-machine) totalChecks',
        'license N (policy) machines',
        'license N (policy) machines last seen during the load',
      ]);
      expect(policy[0].expected).toBeGreaterThan(5);
      expect(policy.slice(1).map((c: { found: number }) => c.found)).toEqual([5, 5]);
    }
    expect(result.scenarios.find((s: { id: string }) => s.id === 'policy-machine').fingerprints).toEqual(['fp-0', 'fp-1', 'fp-2', 'fp-3', 'fp-4']);
    expect(output).toMatch(/Keyward, SQLite, single check AUTHORISED: throughput \d+\.\d\d × bare/);
    expect(output).toMatch(/Keyward, SQLite, single check AUTHORISED, policy license, known machine: throughput \d+\.\d\d × single check AUTHORISED/);
    // A quick run is no record: docs/benchmarks.md is left as it was.
    expect(readFileSync(path.join(ROOT, 'docs', 'benchmarks.md'), 'utf8')).toBe(docs);
  }, 300_000);

  it('runs a baseline build beside this one on each database (--baseline, here this checkout against itself)', async () => {
    const json = path.join(dir, 'baseline.json');
    const { code, output } = await runBench(['--quick', '--baseline', ROOT, '--scenarios', 'single-ok', '--licenses', '200', '--rounds', '2', '--max-others', '1', '--json', json]);
    expect(code, output).toBe(0);
    const result = JSON.parse(readFileSync(json, 'utf8'));
    const targets = ['bare', 'keyward-sqlite', 'baseline-sqlite', ...(pgUrl ? ['keyward-postgres', 'baseline-postgres'] : [])];
    expect(result.targets.map((t: { id: string }) => t.id).sort()).toEqual([...targets].sort());
    for (const target of targets) {
      const rounds: Round[] = result.runs[target]['single-ok'].filter((r: Round) => r.phase === 'round');
      expect(rounds.map((r) => r.round), target).toEqual([1, 2]);
      expect(rounds.every((r) => r.completed > 0 && r.non2xx + r.mismatches + r.errors === 0), target).toBe(true);
    }
    // Each baseline's own counters are checked too, and each is compared with this build on its database.
    expect(result.counters.filter((c: { ok: boolean }) => !c.ok)).toEqual([]);
    const checked = new Set(result.counters.map((c: { target: string }) => c.target));
    expect([...checked].sort()).toEqual(result.targets.filter((t: { id: string }) => t.id !== 'bare').map((t: { title: string }) => t.title).sort());
    expect(output).toMatch(/SQLite, single check AUTHORISED: throughput \d+\.\d{3} × the baseline's/);
    if (pgUrl) expect(output).toMatch(/PostgreSQL, single check AUTHORISED: throughput \d+\.\d{3} × the baseline's/);
  }, 300_000);
});
