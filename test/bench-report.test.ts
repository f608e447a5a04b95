import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// bench/report.mjs is plain JavaScript outside the compiled tree: loaded by path, untyped.
const reportPath = fileURLToPath(new URL('../bench/report.mjs', import.meta.url));
const report = await import(reportPath);

interface Round {
  phase: string;
  round?: number;
  rps: number;
  serverCpu: number;
  latency: { p50: number; p99: number };
  rssPeakMB: number;
  completed: number;
  non2xx: number;
  errors: number;
  mismatches: number;
  elapsedMs: number;
}

const rounds = (rates: number[], p99s: number[], serverCpu = 0.9): Round[] =>
  rates.map((rps, i) => ({
    phase: 'round',
    round: i + 1,
    rps,
    serverCpu,
    latency: { p50: 1, p99: p99s[i]! },
    rssPeakMB: 100,
    completed: rps * 5,
    non2xx: 0,
    errors: 0,
    mismatches: 0,
    elapsedMs: 5000,
  }));

function resultOf(bare: Round[], sqlite: Round[]) {
  const measured = (rs: Round[]) => rs.filter((r) => r.phase === 'round');
  return {
    runs: { bare: { 'single-ok': bare }, sqlite: { 'single-ok': sqlite } },
    summary: {
      bare: { 'single-ok': report.summarise(measured(bare)) },
      sqlite: { 'single-ok': report.summarise(measured(sqlite)) },
    },
    targets: [
      { id: 'bare', title: 'bare node:http' },
      { id: 'sqlite', title: 'Keyward, SQLite', dialect: 'sqlite' },
    ],
    scenarios: [{ id: 'single-ok', title: 'single check AUTHORISED' }],
    options: { licenses: 10_000 },
    counters: [],
  };
}

const lineOf = (result: unknown, start: string): string =>
  (report.goals(result) as { text: string }[]).map((g) => g.text).find((t) => t.startsWith(start)) ?? '';

describe('bench report: ratios to bare', () => {
  // The host slows from 40k to 20k req/s over the run; Keyward's rounds each sit at 0.5-0.85 of the
  // bare round beside them. The ratio of the medians (20,000 ÷ 30,000) says 0.67; the median of the
  // round-by-round ratios (0.50, 0.80, 0.85) says 0.80.
  const bare = rounds([40_000, 30_000, 20_000], [4, 4, 4]);
  const sqlite = rounds([20_000, 24_000, 17_000], [5, 12, 7], 0.95);

  it('pairs each round with the bare round of the same number and takes the median', () => {
    const result = resultOf(bare, sqlite);
    expect(lineOf(result, 'Keyward, SQLite, single check AUTHORISED: throughput')).toMatch(/throughput 0\.80 × bare/);
    // p99: 5/4, 12/4, 7/4 → median 1.75.
    expect(lineOf(result, 'Keyward, SQLite, single check AUTHORISED: p99')).toMatch(/p99 1\.75 × bare's/);
    // CPU per check: bare 22.5, 30, 45 µs; Keyward 47.5, 39.6, 55.9 µs → bare ÷ Keyward 0.47, 0.76, 0.81.
    expect(lineOf(result, 'Keyward, SQLite, single check AUTHORISED: throughput')).toMatch(/\(0\.76\)$/);
  });

  it('ignores rounds that were measured again', () => {
    const disturbed = { ...sqlite[1]!, phase: 'disturbed', rps: 1_000 };
    const result = resultOf(bare, [sqlite[0]!, disturbed, sqlite[1]!, sqlite[2]!]);
    expect(lineOf(result, 'Keyward, SQLite, single check AUTHORISED: throughput')).toMatch(/throughput 0\.80 × bare/);
  });

  it('falls back to the ratio of medians for results without round numbers', () => {
    const unnumbered = (rs: Round[]) => rs.map(({ round: _, ...r }) => r as Round);
    const result = resultOf(unnumbered(bare), unnumbered(sqlite));
    expect(lineOf(result, 'Keyward, SQLite, single check AUTHORISED: throughput')).toMatch(/throughput 0\.67 × bare/);
  });
});

describe('bench report: this build against a baseline build (--baseline)', () => {
  const withTarget = (result: ReturnType<typeof resultOf>, id: string, target: Record<string, string>, runs: Round[]) => {
    result.runs = { ...result.runs, [id]: { 'single-ok': runs } } as typeof result.runs;
    (result.summary as Record<string, unknown>)[id] = { 'single-ok': report.summarise(runs) };
    result.targets.push({ id, ...target } as (typeof result.targets)[number]);
  };

  it('divides this build by the baseline round by round, and sets no goals for the baseline', () => {
    const bare = rounds([40_000, 20_000], [4, 4]);
    const own = rounds([33_000, 17_000], [5, 5], 0.95);
    const base = rounds([30_000, 17_000], [5, 5], 0.95);
    const result = resultOf(bare, own);
    withTarget(result, 'baseline', { title: 'Keyward baseline, SQLite', dialect: 'sqlite', build: 'baseline' }, base);
    // 33,000 ÷ 30,000 = 1.10 and 17,000 ÷ 17,000 = 1.00: median 1.05; CPU per check likewise.
    expect(report.againstBaseline(result)).toEqual([
      expect.stringMatching(/^SQLite, single check AUTHORISED: throughput 1\.050 × the baseline's; server CPU per check .* \(1\.05\)$/),
    ]);
    const goals = (report.goals(result) as { text: string }[]).map((g) => g.text);
    expect(goals.some((t) => t.startsWith('Keyward baseline'))).toBe(false);
    expect(goals.some((t) => t.startsWith('Keyward, SQLite, single check AUTHORISED: throughput'))).toBe(true);
  });

  it('pairs each baseline with this build on the same database (PostgreSQL with PostgreSQL)', () => {
    const result = resultOf(rounds([40_000, 40_000], [4, 4]), rounds([30_000, 30_000], [5, 5]));
    withTarget(result, 'baseline-sqlite', { title: 'Keyward baseline, SQLite', dialect: 'sqlite', build: 'baseline' }, rounds([30_000, 30_000], [5, 5]));
    withTarget(result, 'postgres', { title: 'Keyward, PostgreSQL', dialect: 'postgres' }, rounds([26_000, 24_000], [6, 6]));
    withTarget(result, 'baseline-postgres', { title: 'Keyward baseline, PostgreSQL', dialect: 'postgres', build: 'baseline' }, rounds([20_000, 20_000], [6, 6]));
    // SQLite 30,000 ÷ 30,000; PostgreSQL 26,000 ÷ 20,000 = 1.30 and 24,000 ÷ 20,000 = 1.20: median 1.25.
    expect(report.againstBaseline(result)).toEqual([
      expect.stringMatching(/^SQLite, single check AUTHORISED: throughput 1\.000 × /),
      expect.stringMatching(/^PostgreSQL, single check AUTHORISED: throughput 1\.250 × the baseline's/),
    ]);
    const goals = (report.goals(result) as { text: string }[]).map((g) => g.text);
    expect(goals.filter((t) => t.includes('baseline'))).toEqual([]);
    expect(goals.some((t) => t.startsWith('Keyward, PostgreSQL, single check AUTHORISED: throughput'))).toBe(true);
  });
});

describe('bench report: a policy license checked from a known machine against the plain check', () => {
  // The plain check ran while the host was fast (bare 40,000 req/s), the policy one while it was
  // twice as slow (bare 20,000): Keyward reached 0.75 and 0.72 of bare. The medians alone (14,400 ÷
  // 30,000) would say the machine check halves the rate; through bare it is 0.72 ÷ 0.75 = 0.96.
  const resultWith = (scenarios: Record<string, { bare: Round[]; sqlite: Round[] }>) => {
    const result = resultOf(rounds([40_000, 40_000], [4, 4]), rounds([30_000, 30_000], [5, 5], 0.95));
    for (const [id, { bare, sqlite }] of Object.entries(scenarios)) {
      (result.runs.bare as Record<string, Round[]>)[id] = bare;
      (result.runs.sqlite as Record<string, Round[]>)[id] = sqlite;
      (result.summary.bare as Record<string, unknown>)[id] = report.summarise(bare);
      (result.summary.sqlite as Record<string, unknown>)[id] = report.summarise(sqlite);
      result.scenarios.push({ id, title: 'single check AUTHORISED, policy license, known machine' });
    }
    return result;
  };

  it('divides the two ratios to bare and sets the goal of 0.95', () => {
    const result = resultWith({ 'policy-machine': { bare: rounds([20_000, 20_000], [4, 4]), sqlite: rounds([14_400, 14_400], [5, 5], 0.95) } });
    expect(report.knownMachineCost(result, 'sqlite')).toEqual({ rps: expect.closeTo(0.96, 6), cpu: expect.closeTo(0.96, 6) });
    const goal = (report.goals(result) as { ok: boolean; text: string }[]).find((g) => g.text.includes('known machine'));
    expect(goal).toEqual({
      ok: true,
      text: expect.stringMatching(/^Keyward, SQLite, single check AUTHORISED, policy license, known machine: throughput 0\.96 × single check AUTHORISED \(goal ≥ 0\.95\); server CPU per check 66\.0 µs, the plain check's 31\.7 µs \(0\.96\)$/),
    });
  });

  it('fails the goal past 5% slower, and says nothing when either scenario did not run', () => {
    const slower = resultWith({ 'policy-machine': { bare: rounds([20_000, 20_000], [4, 4]), sqlite: rounds([14_000, 14_000], [5, 5], 0.95) } });
    expect((report.goals(slower) as { ok: boolean; text: string }[]).find((g) => g.text.includes('known machine'))?.ok).toBe(false);
    expect(report.knownMachineCost(resultWith({}), 'sqlite')).toBeNull();
    expect((report.goals(resultWith({})) as { text: string }[]).some((g) => g.text.includes('known machine'))).toBe(false);
  });
});
