/** One UTC day of checks (YYYY-MM-DD), as CheckStats.checksPerDay gives them. */
export interface ChartDay {
  day: string;
  passed: number;
  failed: number;
}

const W = 720;
const H = 200;
const PAD = { top: 12, right: 8, bottom: 28, left: 44 };

const esc = (s: string | number) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A rounded axis maximum (1, 2, 5 × 10^n) at or above the largest day. */
function niceMax(n: number): number {
  if (n <= 4) return 4;
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

/**
 * Checks per day as stacked bars (passed below, failed on top), drawn on the server as SVG so the
 * page needs no script and the CSP stays strict. Every bar has a <title> and the figure a summary.
 */
export function checksChart(days: readonly ChartDay[], label = 'Checks per day'): string {
  const max = niceMax(Math.max(0, ...days.map((d) => d.passed + d.failed)));
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const slot = innerW / Math.max(days.length, 1);
  const barW = Math.max(2, slot * 0.7);
  const y = (v: number) => PAD.top + innerH - (v / max) * innerH;
  const totalPassed = days.reduce((s, d) => s + d.passed, 0);
  const totalFailed = days.reduce((s, d) => s + d.failed, 0);
  const parts: string[] = [];
  for (const tick of [0, max / 2, max]) {
    parts.push(
      `<line class="grid" x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(tick).toFixed(1)}" y2="${y(tick).toFixed(1)}"/>`,
      `<text class="axis" x="${PAD.left - 6}" y="${(y(tick) + 4).toFixed(1)}" text-anchor="end">${esc(Math.round(tick))}</text>`,
    );
  }
  days.forEach((d, i) => {
    const x = PAD.left + i * slot + (slot - barW) / 2;
    const passTop = y(d.passed);
    const failTop = y(d.passed + d.failed);
    const title = `<title>${esc(d.day)}: ${esc(d.passed)} passed, ${esc(d.failed)} failed</title>`;
    parts.push(`<g class="day">${title}`);
    parts.push(`<rect class="hit" x="${(PAD.left + i * slot).toFixed(1)}" y="${PAD.top}" width="${slot.toFixed(1)}" height="${innerH}"/>`);
    if (d.passed > 0) {
      parts.push(`<rect class="pass" x="${x.toFixed(1)}" y="${passTop.toFixed(1)}" width="${barW.toFixed(1)}" height="${(y(0) - passTop).toFixed(1)}"/>`);
    }
    if (d.failed > 0) {
      parts.push(`<rect class="fail" x="${x.toFixed(1)}" y="${failTop.toFixed(1)}" width="${barW.toFixed(1)}" height="${(passTop - failTop).toFixed(1)}"/>`);
    }
    parts.push('</g>');
    // A date every week and on the last day, never two labels on top of each other.
    if ((i % 7 === 0 && days.length - 1 - i >= 4) || i === days.length - 1) {
      parts.push(`<text class="axis" x="${(x + barW / 2).toFixed(1)}" y="${H - 8}" text-anchor="middle">${esc(d.day.slice(5))}</text>`);
    }
  });
  const first = days[0]?.day ?? '';
  const last = days[days.length - 1]?.day ?? '';
  const summary = `${label} from ${first} to ${last}: ${totalPassed} passed, ${totalFailed} failed.`;
  return (
    `<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">` +
    `<title id="chart-title">${esc(label)}</title><desc id="chart-desc">${esc(summary)}</desc>` +
    parts.join('') +
    '</svg>'
  );
}
