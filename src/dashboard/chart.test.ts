import { describe, expect, it } from 'vitest';
import { checksChart } from './chart.js';

describe('checks chart', () => {
  const days = Array.from({ length: 30 }, (_, i) => ({ day: `2026-11-${String(i + 1).padStart(2, '0')}`, passed: i, failed: i % 3 }));

  it('draws one group per day with passed and failed bars and an accessible summary', () => {
    const svg = checksChart(days, 'Checks');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<g class="day">/g)).toHaveLength(30);
    expect(svg.match(/class="pass"/g)).toHaveLength(29);
    expect(svg.match(/class="fail"/g)).toHaveLength(20);
    expect(svg).toContain('<title>2026-11-30: 29 passed, 2 failed</title>');
    expect(svg).toContain('role="img"');
    expect(svg).toContain(`from 2026-11-01 to 2026-11-30: ${days.reduce((s, d) => s + d.passed, 0)} passed`);
  });

  it('escapes the label and draws an empty month without dividing by zero', () => {
    const svg = checksChart(days.map((d) => ({ ...d, passed: 0, failed: 0 })), '<b>&"');
    expect(svg).toContain('&lt;b&gt;&amp;&quot;');
    expect(svg).not.toContain('NaN');
    expect(svg).not.toContain('Infinity');
  });
});
