// Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. `npm run bench -- --cpu-prof DIR`):
// self time by function and by package, so it is plain where a license check spends its time.
//
//   node bench/profile-summary.mjs FILE.cpuprofile [--top N]
//   node bench/profile-summary.mjs A.cpuprofile REQUESTS_A B.cpuprofile REQUESTS_B --compare
//     (µs per request by function, B against A; `npm run bench -- --cpu-prof DIR` prints this
//     for each Keyward target against the bare server)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** Where a frame's code lives: a package, Node's internals, Keyward's own dist/, or V8. */
function origin(url) {
  if (!url) return '(V8 / native)';
  if (url.startsWith('node:')) return 'node: (core)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) {
    const parts = url.slice(nm + 'node_modules/'.length).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  const dist = url.indexOf('/dist/');
  if (dist !== -1) return `keyward ${url.slice(dist + 1).replace(/^file:\/\//, '')}`;
  return url.replace(/^file:\/\//, '');
}

/** One function: "name  file:line" and its origin, joined by a NUL (split again for printing). */
function nameOf(node) {
  const { functionName, url, lineNumber } = node.callFrame;
  return `${`${functionName || '(anonymous)'}  ${url ? `${path.basename(url)}:${lineNumber + 1}` : ''}`.trim()}\u0000${origin(url)}`;
}

const NOT_CODE = new Set(['(root)', '(idle)', '(program)', '(garbage collector)']);

export function summariseProfile(file, top = 25) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const totalUs = profile.endTime - profile.startTime;
  const byFunction = new Map();
  const byOrigin = new Map();
  let idle = 0;
  let hits = 0;
  for (const node of profile.nodes) {
    const n = node.hitCount ?? 0;
    if (!n) continue;
    hits += n;
    const { functionName, url } = node.callFrame;
    if (functionName === '(idle)') {
      idle += n;
      continue;
    }
    const key = nameOf(node);
    byFunction.set(key, (byFunction.get(key) ?? 0) + n);
    const o = ['(garbage collector)', '(program)'].includes(functionName) ? functionName : origin(url);
    byOrigin.set(o, (byOrigin.get(o) ?? 0) + n);
  }
  const busy = hits - idle;

  // Total time: a sample counts once for every distinct function on its stack.
  const parent = new Map();
  const byId = new Map();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const stacks = new Map();
  const stackOf = (id) => {
    let names = stacks.get(id);
    if (!names) {
      names = new Set();
      for (let at = id, depth = 0; at !== undefined && depth < 10_000; at = parent.get(at), depth++) {
        const node = byId.get(at);
        if (node && !NOT_CODE.has(node.callFrame.functionName)) names.add(nameOf(node));
      }
      stacks.set(id, names);
    }
    return names;
  };
  const inclusive = new Map();
  for (const id of profile.samples ?? []) {
    for (const name of stackOf(id)) inclusive.set(name, (inclusive.get(name) ?? 0) + 1);
  }

  const rows = (map) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, n]) => ({ what: k.split('\u0000'), share: busy ? n / busy : 0 }));
  return {
    file,
    seconds: totalUs / 1e6,
    busyShare: hits ? busy / hits : 0,
    functions: rows(byFunction),
    origins: rows(byOrigin),
    inclusive: rows(inclusive),
  };
}

/**
 * Busy self time per request, in µs, by function in two profiles (say the bare server's and
 * Keyward's in one run), largest differences first: where Keyward spends time the ceiling does
 * not. `requests` is how many requests each process answered while it was profiled.
 */
export function compareProfiles(a, b, top = 25) {
  const perRequest = ({ file, requests }) => {
    const profile = JSON.parse(readFileSync(file, 'utf8'));
    const hits = profile.nodes.reduce((n, node) => n + (node.hitCount ?? 0), 0);
    const usPerHit = hits ? (profile.endTime - profile.startTime) / hits : 0;
    const byFunction = new Map();
    let total = 0;
    for (const node of profile.nodes) {
      const n = node.hitCount ?? 0;
      if (!n || node.callFrame.functionName === '(idle)') continue;
      const us = (n * usPerHit) / Math.max(1, requests);
      const name = nameOf(node);
      byFunction.set(name, (byFunction.get(name) ?? 0) + us);
      total += us;
    }
    return { byFunction, total };
  };
  const [pa, pb] = [perRequest(a), perRequest(b)];
  const rows = [...new Set([...pa.byFunction.keys(), ...pb.byFunction.keys()])]
    .map((k) => ({ what: k.split('\u0000'), a: pa.byFunction.get(k) ?? 0, b: pb.byFunction.get(k) ?? 0 }))
    .sort((x, y) => Math.abs(y.b - y.a) - Math.abs(x.b - x.a))
    .slice(0, top);
  return { a: { ...a, total: pa.total }, b: { ...b, total: pb.total }, rows };
}

export function formatComparison(c) {
  const us = (v) => v.toFixed(2).padStart(7);
  const lines = [`µs of busy CPU per request (self time, profiler overhead included): A = ${c.a.title}, B = ${c.b.title}`];
  lines.push(`        A       B     B-A`);
  lines.push(`  ${us(c.a.total)} ${us(c.b.total)} ${us(c.b.total - c.a.total)}  all functions`);
  for (const r of c.rows) lines.push(`  ${us(r.a)} ${us(r.b)} ${us(r.b - r.a)}  ${r.what[0]}  [${r.what[1]}]`);
  return lines.join('\n');
}

export function formatProfileSummary(s) {
  const lines = [];
  lines.push(`${s.file}: ${s.seconds.toFixed(1)} s profiled, ${(s.busyShare * 100).toFixed(0)}% busy`);
  lines.push('  self time by origin (share of busy time):');
  for (const r of s.origins) lines.push(`    ${(r.share * 100).toFixed(1).padStart(5)}%  ${r.what[0]}`);
  lines.push('  self time by function:');
  for (const r of s.functions) lines.push(`    ${(r.share * 100).toFixed(1).padStart(5)}%  ${r.what[0]}  [${r.what[1]}]`);
  lines.push('  total time (self + callees) by function:');
  for (const r of s.inclusive) lines.push(`    ${(r.share * 100).toFixed(1).padStart(5)}%  ${r.what[0]}  [${r.what[1]}]`);
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    options: { top: { type: 'string', default: '25' }, compare: { type: 'boolean', default: false } },
    allowPositionals: true,
  });
  const top = Number(values.top) || 25;
  if (values.compare) {
    const [fa, na, fb, nb] = positionals;
    if (!fb || !(Number(na) > 0) || !(Number(nb) > 0)) {
      console.error('usage: node bench/profile-summary.mjs A.cpuprofile REQUESTS_A B.cpuprofile REQUESTS_B --compare [--top N]');
      process.exit(2);
    }
    const side = (file, requests) => ({ file, requests: Number(requests), title: path.basename(file) });
    console.log(formatComparison(compareProfiles(side(fa, na), side(fb, nb), top)));
  } else if (positionals.length === 0) {
    console.error('usage: node bench/profile-summary.mjs FILE.cpuprofile [--top N]');
    process.exit(2);
  } else {
    for (const file of positionals) console.log(formatProfileSummary(summariseProfile(file, top)));
  }
}
