// Turning benchmark results into the printed tables, the goal checks and docs/benchmarks.md.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const median = (values) => {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
};
const sum = (values) => values.reduce((a, b) => a + b, 0);

/** One round's figures, by name. */
const FIGURE = {
  rps: (r) => r.rps,
  p99: (r) => r.latency?.p99,
  // µs of the server's CPU per request (busy share ÷ rate): unlike the rate, it holds when a round
  // is bound by the load generator rather than by the server.
  cpuPerRequestUs: (r) => (typeof r.serverCpu === 'number' && r.rps > 0 ? (r.serverCpu * 1e6) / r.rps : null),
};

/** Medians across rounds for one target and scenario (rounds: the measured runs only). */
export function summarise(rounds) {
  return {
    rounds: rounds.length,
    rps: median(rounds.map((r) => r.rps)),
    rpsMin: Math.min(...rounds.map((r) => r.rps)),
    rpsMax: Math.max(...rounds.map((r) => r.rps)),
    p50: median(rounds.map((r) => r.latency.p50)),
    p99: median(rounds.map((r) => r.latency.p99)),
    rssMB: Math.max(...rounds.map((r) => r.rssPeakMB ?? 0)),
    serverCpu: median(rounds.map((r) => r.serverCpu)),
    cpuPerRequestUs: median(rounds.map(FIGURE.cpuPerRequestUs)),
    dbCpu: median(rounds.map((r) => r.dbCpu)),
    loaderCpu: median(rounds.map((r) => r.loaderCpu)),
    otherCpu: median(rounds.map((r) => r.otherCpu)),
    seconds: median(rounds.map((r) => r.elapsedMs / 1000)),
    completed: sum(rounds.map((r) => r.completed)),
    non2xx: sum(rounds.map((r) => r.non2xx)),
    errors: sum(rounds.map((r) => r.errors + r.mismatches)),
  };
}

const fmt = {
  int: (n) => (n === null || n === undefined ? '-' : Math.round(n).toLocaleString('en-US')),
  ms: (n) => (n === null || n === undefined ? '-' : n.toFixed(2)),
  ratio: (n) => (n === null || n === undefined ? '-' : n.toFixed(2)),
  pct: (n) => (n === null || n === undefined ? '-' : `${Math.round(n * 100)}%`),
};

const COLUMNS = [
  ['scenario', 'l'],
  ['req/s', 'r'],
  ['÷ bare', 'r'],
  ['p50 ms', 'r'],
  ['p99 ms', 'r'],
  ['p99 ÷ bare', 'r'],
  ['RSS MB', 'r'],
  ['server CPU', 'r'],
  ['db CPU', 'r'],
  ['loader CPU', 'r'],
  ['others CPU', 'r'],
  ['non-2xx', 'r'],
  ['errors', 'r'],
];

/**
 * A target's figure ÷ the bare server's for one scenario (bare's ÷ the target's with `inverse`):
 * the median of round-by-round ratios, each of the target's rounds against the bare server's round
 * of the same number, measured next to it, so a drift of the host's speed over the run cancels
 * out instead of landing on whichever target ran in the slow minutes. Results without round
 * numbers (JSON from before they were recorded) give the ratio of the medians. null when either
 * side is missing.
 */
const toBare = (result, targetId, scenarioId, key, inverse = false) => toTarget(result, targetId, 'bare', scenarioId, key, inverse);

/** The same, against any other target `refId` (the baseline build). */
function toTarget(result, targetId, refId, scenarioId, key, inverse = false) {
  const measured = (id) => (result.runs?.[id]?.[scenarioId] ?? []).filter((r) => r.phase === 'round' && r.round != null);
  const refRound = new Map(measured(refId).map((r) => [r.round, FIGURE[key](r)]));
  const paired = median(
    measured(targetId).map((r) => {
      const own = FIGURE[key](r);
      const ref = refRound.get(r.round);
      if (own == null || ref == null || own <= 0 || ref <= 0) return null;
      return inverse ? ref / own : own / ref;
    }),
  );
  if (paired !== null) return paired;
  const m = result.summary[targetId]?.[scenarioId]?.[key];
  const b = result.summary[refId]?.[scenarioId]?.[key];
  return m > 0 && b > 0 ? (inverse ? b / m : m / b) : null;
}

/**
 * With --baseline: this build's figures ÷ the baseline build's on the same database kind (SQLite,
 * and PostgreSQL when both ran on it), scenario by scenario (round-by-round ratios, like those to bare).
 */
export function againstBaseline(result) {
  const lines = [];
  for (const baseline of result.targets.filter((t) => t.build === 'baseline')) {
    const own = result.targets.find((t) => t.dialect === baseline.dialect && t.build !== 'baseline');
    if (!own) continue;
    const kind = baseline.dialect === 'postgres' ? 'PostgreSQL' : 'SQLite';
    for (const s of result.scenarios) {
      const rps = toTarget(result, own.id, baseline.id, s.id, 'rps');
      if (rps === null) continue;
      const cpu = toTarget(result, own.id, baseline.id, s.id, 'cpuPerRequestUs', true);
      const note = cpuNote(result.summary[own.id]?.[s.id], result.summary[baseline.id]?.[s.id], cpu, "the baseline's");
      lines.push(`${kind}, ${s.title}: throughput ${rps.toFixed(3)} × the baseline's${note}`);
    }
  }
  return lines;
}

/** Rows (arrays of cells) of one target's table. */
function tableRows(result, target, scenarios) {
  return scenarios.map((s) => {
    const m = result.summary[target.id]?.[s.id];
    if (!m) return [s.title, ...COLUMNS.slice(1).map(() => '-')];
    const isBare = target.id === 'bare';
    return [
      s.title,
      fmt.int(m.rps),
      isBare ? '1.00' : fmt.ratio(toBare(result, target.id, s.id, 'rps')),
      fmt.ms(m.p50),
      fmt.ms(m.p99),
      isBare ? '1.00' : fmt.ratio(toBare(result, target.id, s.id, 'p99')),
      fmt.int(m.rssMB),
      fmt.pct(m.serverCpu),
      fmt.pct(m.dbCpu),
      fmt.pct(m.loaderCpu),
      fmt.pct(m.otherCpu),
      String(m.non2xx),
      String(m.errors),
    ];
  });
}

function textTable(rows) {
  const widths = COLUMNS.map(([h], i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) =>
    cells.map((c, i) => (COLUMNS[i][1] === 'l' ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  return [line(COLUMNS.map(([h]) => h)), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function markdownTable(rows) {
  const head = `| ${COLUMNS.map(([h]) => h).join(' | ')} |`;
  const rule = `|${COLUMNS.map(([, a]) => (a === 'l' ? ':---' : '---:')).join('|')}|`;
  return [head, rule, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** The performance goals (docs/benchmarks.md), as informational PASS/FAIL lines. */
export function goals(result) {
  const lines = [];
  const bare = result.summary.bare ?? {};
  const check = (ok, text) => lines.push({ ok, text });
  const title = (id) => result.scenarios.find((x) => x.id === id)?.title ?? id;
  for (const target of result.targets.filter((t) => t.id !== 'bare' && t.build !== 'baseline')) {
    const s = result.summary[target.id] ?? {};
    const floor = target.dialect === 'postgres' ? 0.7 : 0.8;
    for (const id of ['single-ok', 'single-notfound']) {
      const m = s[id];
      const b = bare[id];
      const ratio = toBare(result, target.id, id, 'rps');
      if (ratio === null) continue;
      const cpu = toBare(result, target.id, id, 'cpuPerRequestUs', true);
      check(ratio >= floor, `${target.title}, ${title(id)}: throughput ${ratio.toFixed(2)} × bare (goal ≥ ${floor.toFixed(2)})${cpuNote(m, b, cpu)}`);
      if (target.dialect === 'sqlite') {
        const p = toBare(result, target.id, id, 'p99');
        if (p !== null) check(p <= 2, `${target.title}, ${title(id)}: p99 ${p.toFixed(2)} × bare's (goal ≤ 2)`);
      }
    }
    const machine = knownMachineCost(result, target.id);
    if (machine) {
      const cpu = machine.cpu === null ? '' : `; server CPU per check ${fmtUs(s['policy-machine'].cpuPerRequestUs)}, the plain check's ${fmtUs(s['single-ok'].cpuPerRequestUs)} (${machine.cpu.toFixed(2)})`;
      check(machine.rps >= 0.95, `${target.title}, ${title('policy-machine')}: throughput ${machine.rps.toFixed(2)} × ${title('single-ok')} (goal ≥ 0.95)${cpu}`);
    }
    const rss = Math.max(0, ...Object.values(s).map((m) => m.rssMB ?? 0));
    if (result.options.licenses <= 10_000) {
      check(rss <= 150, `${target.title}: RSS under load ${Math.round(rss)} MB with ${result.options.licenses.toLocaleString('en-US')} licenses (goal ≤ 150 MB with 10k)`);
    }
  }
  const non2xx = sum(Object.values(result.summary).flatMap((s) => Object.values(s).map((m) => m.non2xx)));
  check(non2xx === 0, `non-2xx answers: ${non2xx} (goal 0)`);
  const lost = result.counters.filter((c) => !c.ok).length;
  check(lost === 0, `counter check: ${lost === 0 ? 'every count matches' : `${lost} mismatch(es)`} (goal: nothing lost, nothing double-counted)`);
  return lines;
}

const fmtUs = (us) => (us == null ? '-' : `${us.toFixed(1)} µs`);

/**
 * What a machine limit costs a check: the policy license checked from a known machine against
 * the plain single check AUTHORISED on one target, as the ratio of their ratios to bare (each
 * paired round by round). The bare server answers both with the same bytes, so dividing by it
 * cancels the host's drift between the minutes the two scenarios ran in. `cpu`: the plain check's
 * server CPU per check ÷ the policy one's, likewise through bare. null unless both ran.
 */
export function knownMachineCost(result, targetId) {
  const policy = toBare(result, targetId, 'policy-machine', 'rps');
  const plain = toBare(result, targetId, 'single-ok', 'rps');
  if (policy === null || plain === null) return null;
  const policyCpu = toBare(result, targetId, 'policy-machine', 'cpuPerRequestUs', true);
  const plainCpu = toBare(result, targetId, 'single-ok', 'cpuPerRequestUs', true);
  return { rps: policy / plain, cpu: policyCpu !== null && plainCpu !== null ? policyCpu / plainCpu : null };
}

/**
 * Informational, beside a throughput ratio: the server's CPU per request, the target's and the
 * reference's (`whose`: the bare server's, or the baseline's; medians), and the reference's ÷ the
 * target's round by round (the throughput ratio the target would reach if both were bound by
 * their own CPU alone).
 */
function cpuNote(m, ref, ratio, whose = "bare's") {
  const k = m?.cpuPerRequestUs;
  const c = ref?.cpuPerRequestUs;
  if (k == null || c == null || ratio === null) return '';
  return `; server CPU per check ${k.toFixed(1)} µs, ${whose} ${c.toFixed(1)} µs (${ratio.toFixed(2)})`;
}

/**
 * What the Previous Auths row costs: each target's single check AUTHORISED with and without it
 * (log=false), each against the bare server's own rounds of the same scenario.
 */
export function rowCost(result) {
  const lines = [];
  for (const target of result.targets.filter((t) => t.id !== 'bare')) {
    const s = result.summary[target.id] ?? {};
    const withRow = toBare(result, target.id, 'single-ok', 'rps');
    const without = toBare(result, target.id, 'single-nolog', 'rps');
    if (withRow === null || without === null) continue;
    const a = s['single-ok'].cpuPerRequestUs;
    const b = s['single-nolog'].cpuPerRequestUs;
    lines.push(
      `${target.title}: single check AUTHORISED ${withRow.toFixed(2)} × bare with its Previous Auths row, ${without.toFixed(2)} × bare without it (log=false; counters still written)` +
        (a != null && b != null ? `; server CPU per check ${a.toFixed(1)} µs with the row, ${b.toFixed(1)} µs without.` : '.'),
    );
  }
  return lines;
}

function header(result) {
  const o = result.options;
  return `${o.connections} connections, ${o.rounds} rounds × ${o.duration} s per scenario and target (after a ${o.warmup} s warm-up), alternating targets each round (every other round in reverse order); medians across rounds (RSS: peak), and each ratio to bare is the median of round-by-round ratios (a target's round ÷ the bare server's round of the same number). Rounds in which other processes took more than ${Math.round(o.maxOthers * 100)}% of the server's CPU were measured again (up to 3 times, each after waiting up to 60 s for the machine to calm down). ${o.licenses.toLocaleString('en-US')} licenses, ${o.logRows.toLocaleString('en-US')} seeded Previous Auths rows; logging on.`;
}

/** Warnings about how far the figures can be trusted. */
function notes(result) {
  const all = Object.entries(result.summary).flatMap(([target, s]) => Object.values(s).map((m) => ({ target, ...m })));
  const out = [];
  if (all.some((m) => m.loaderCpu > 0.9)) {
    out.push('the load generator used > 90% of its core in some runs: those figures may be bound by the load generator, not the server.');
  }
  // The bare server does the same work every round, so a spread between its rounds is the host's
  // speed moving under the run (other virtual machines, say), which no per-process figure shows.
  const drift = Object.entries(result.summary.bare ?? {})
    .map(([id, m]) => ({ id, m, spread: m.rounds > 1 && m.rpsMin > 0 ? m.rpsMax / m.rpsMin - 1 : 0 }))
    .sort((a, b) => b.spread - a.spread)[0];
  if (drift && drift.spread > 0.15) {
    const title = result.scenarios.find((x) => x.id === drift.id)?.title ?? drift.id;
    out.push(
      `the host's speed moved during the run: the bare server's rounds of one scenario differed by up to ${Math.round(drift.spread * 100)}% ` +
        `(${title}: ${fmt.int(drift.m.rpsMin)} to ${fmt.int(drift.m.rpsMax)} req/s). The ratios to bare pair each round with the bare server's round of the same number, ` +
        'which cancels a drift over minutes but not a change within seconds; rerun and compare.',
    );
  }
  const noisy = Math.max(0, ...all.map((m) => m.otherCpu ?? 0));
  if (noisy > 0.1) {
    out.push(`other processes took up to ${Math.round(noisy * 100)}% of the server's CPU during the rounds (median per scenario): the figures are noisy; rerun on a quiet machine.`);
  }
  return out;
}

export function printReport(result, print = console.log) {
  print('');
  print(header(result));
  if (!result.pinned) print('WARNING: no CPU pinning (taskset missing or fewer than 2 cores): server and load generator share cores.');
  for (const target of result.targets) {
    print('');
    print(`${target.title}${target.id === 'bare' ? ' (the ceiling)' : ''}`);
    print(textTable(tableRows(result, target, result.scenarios)));
  }
  print('');
  print('Counter check (after a graceful stop):');
  for (const c of result.counters) print(`  ${c.ok ? 'OK      ' : 'MISMATCH'} ${c.target}: ${c.what}: expected ${c.expected.toLocaleString('en-US')}, found ${c.found.toLocaleString('en-US')}`);
  print('');
  print('Goals (informational):');
  for (const g of goals(result)) print(`  ${g.ok ? 'PASS' : 'FAIL'}  ${g.text}`);
  const cost = rowCost(result);
  if (cost.length) {
    print('');
    print('What the Previous Auths row costs:');
    for (const l of cost) print(`  ${l}`);
  }
  const versus = againstBaseline(result);
  if (versus.length) {
    print('');
    print('This build against the baseline (--baseline; round by round):');
    for (const l of versus) print(`  ${l}`);
  }
  for (const note of notes(result)) print(`\nNOTE: ${note}`);
}

const START = '<!-- bench:results:start (regenerated by `npm run bench`; edit outside these markers) -->';
const END = '<!-- bench:results:end -->';

function resultsMarkdown(result) {
  const h = result.hardware;
  const lines = [];
  const command = result.command.replace(/\s--json(=|\s+)\S+/, '').replace(/ --$/, '');
  lines.push(`_Generated ${result.finishedAt} by \`${command}\` at commit \`${result.commit}\`._`, '');
  lines.push('### Machine', '');
  lines.push(`- CPU: ${h.cpuModel} (${h.cpuCount} logical CPUs in /proc/cpuinfo, \`nproc\` = ${h.nproc})`);
  lines.push(`- Memory (\`free -m\`):`, '', '```', h.free.trimEnd(), '```', '');
  lines.push(`- OS: Linux ${h.kernel}; Node.js ${h.node}; autocannon ${h.autocannon}${h.postgres ? `; ${h.postgres}` : ''}`);
  lines.push(
    `- Pinning: ${result.pinned ? 'servers on CPU 0 (`taskset -c 0`), load generator and this script on CPU 1 (`taskset -c 1`)' : 'none (taskset unavailable or fewer than 2 CPUs)'}`,
  );
  lines.push(`- Keyward ran with \`${Object.entries(result.serverEnv).map(([k, v]) => `${k}=${v}`).join(' ')}\` (answers signed: ${result.signedAnswers ? 'yes' : 'no'})`);
  lines.push('', '### Results', '', header(result), '');
  for (const target of result.targets) {
    lines.push(`#### ${target.title}${target.id === 'bare' ? ' (the ceiling)' : ''}`, '');
    lines.push(markdownTable(tableRows(result, target, result.scenarios)), '');
  }
  lines.push('### Counter check', '');
  for (const c of result.counters) lines.push(`- ${c.ok ? 'OK' : '**MISMATCH**'} ${c.target}: ${c.what}: expected ${c.expected.toLocaleString('en-US')}, found ${c.found.toLocaleString('en-US')}`);
  lines.push('', '### Goals', '');
  for (const g of goals(result)) lines.push(`- ${g.ok ? 'PASS' : '**FAIL**'} ${g.text}`);
  const cost = rowCost(result);
  if (cost.length) lines.push('', '### What the Previous Auths row costs', '', ...cost.map((l) => `- ${l}`));
  const warnings = notes(result);
  // A blank quoted line between notes, or Markdown runs them together into one paragraph.
  if (warnings.length) lines.push('', warnings.map((n) => `> **Note:** ${n}`).join('\n>\n'));
  lines.push('');
  return lines.join('\n');
}

// Only when docs/benchmarks.md is missing: the page's prose (how to run, goals, what we tried) lives there.
const SKELETON = `# Benchmarks

How fast a Keyward license check is, next to a bare \`node:http\` server answering the same bytes.
How to run it: \`bench/README.md\`.

## Latest results

${START}

_No full run yet._

${END}
`;

/** Rewrites the generated section of docs/benchmarks.md, keeping everything outside the markers. */
export function writeDocs(file, result) {
  let text = existsSync(file) ? readFileSync(file, 'utf8') : SKELETON;
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  const generated = `${START}\n\n${resultsMarkdown(result)}\n${END}`;
  if (a === -1 || b === -1 || b < a) text = `${text.trimEnd()}\n\n## Latest results\n\n${generated}\n`;
  else text = `${text.slice(0, a)}${generated}${text.slice(b + END.length)}`;
  writeFileSync(file, text);
}
