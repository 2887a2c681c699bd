import { escapeHtml as e } from './escape-html.js';

export interface ChartSeries {
  key: string;
  label: string;
  /** A CSS class that colours the bars and the legend's swatch. */
  className: string;
}

export interface ChartBar {
  label: string;
  values: Record<string, number>;
}

const WIDTH = 600;
const HEIGHT = 170;
const AXIS = 22;
/** Room at both ends, so the first and last labels are not cut. */
const PAD = 32;

/**
 * A stacked bar chart as inline SVG, drawn on the server: a few dozen rectangles need no library,
 * and the page stays one document that the browser scales to any width. Every bar carries a title
 * (a tooltip and what a screen reader reads), and a table with the same numbers sits below it.
 */
export function stackedBarChart(title: string, series: ChartSeries[], bars: ChartBar[]): string {
  const totals = bars.map((b) => series.reduce((sum, s) => sum + (b.values[s.key] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const slot = (WIDTH - 2 * PAD) / Math.max(1, bars.length);
  const barWidth = Math.max(2, slot * 0.75);
  const plot = HEIGHT - AXIS;
  const rects: string[] = [];
  bars.forEach((bar, i) => {
    let y = plot;
    const x = PAD + i * slot + (slot - barWidth) / 2;
    const parts = series.map((s) => `${s.label} ${bar.values[s.key] ?? 0}`).join(', ');
    rects.push(`<g><title>${e(`${bar.label}: ${parts}`)}</title>`);
    for (const s of series) {
      const v = bar.values[s.key] ?? 0;
      if (v === 0) continue;
      const h = (v / max) * (plot - 4);
      y -= h;
      rects.push(
        `<rect class="${e(s.className)}" x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${h.toFixed(1)}"></rect>`,
      );
    }
    rects.push('</g>');
  });
  const every = Math.ceil(bars.length / 6);
  const labels = bars
    .map((bar, i) =>
      i % every === 0
        ? `<text x="${(PAD + i * slot + slot / 2).toFixed(1)}" y="${HEIGHT - 4}" text-anchor="middle">${e(bar.label)}</text>`
        : '',
    )
    .join('');
  const legend = series
    .map((s) => `<span class="legend"><span class="swatch ${e(s.className)}"></span>${e(s.label)}</span>`)
    .join(' ');
  const rows = bars
    .map(
      (bar, i) =>
        `<tr><th scope="row">${e(bar.label)}</th>${series.map((s) => `<td>${e(bar.values[s.key] ?? 0)}</td>`).join('')}<td>${e(totals[i])}</td></tr>`,
    )
    .join('');
  return `<figure class="chart">
<figcaption>${e(title)} <span class="muted">(most in one bar: ${e(Math.max(0, ...totals))})</span></figcaption>
<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${e(title)}">
<line class="axis" x1="0" y1="${plot}" x2="${WIDTH}" y2="${plot}"></line>${rects.join('')}${labels}
</svg>
<div class="legend-row">${legend}</div>
<details><summary>The numbers</summary><div class="table-wrap"><table><thead><tr><th scope="col">When (UTC)</th>${series.map((s) => `<th scope="col">${e(s.label)}</th>`).join('')}<th scope="col">All</th></tr></thead><tbody>${rows}</tbody></table></div></details>
</figure>`;
}
