import { esc } from './page.ts';

/**
 * Inline SVG charts: the report is one file with no scripts and no external assets, so it opens
 * offline, attaches to an email and renders the same wherever it is stored.
 */
export interface BarSeries {
  name: string;
  color: string;
  /** Per category: the value in [0, 1] and its interval, or null when there is nothing to show. */
  values: ({ value: number; ci: [number, number] | null } | null)[];
}

export function barChart(categories: string[], series: BarSeries[], title: string): string {
  const width = 720;
  const height = 250;
  const pad = { left: 48, right: 16, top: 16, bottom: 28 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const y = (v: number) => pad.top + plotH * (1 - v);
  const groupW = plotW / Math.max(1, categories.length);
  const barW = Math.min(36, (groupW * 0.8) / Math.max(1, series.length));
  const parts: string[] = [];
  for (let t = 0; t <= 10; t += 2) {
    const v = t / 10;
    parts.push(
      `<line x1="${pad.left}" x2="${width - pad.right}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e7eb"/>`,
      `<text x="${pad.left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11" fill="#6b7280">${t * 10}%</text>`,
    );
  }
  categories.forEach((cat, c) => {
    const x0 = pad.left + c * groupW + (groupW - barW * series.length) / 2;
    series.forEach((s, k) => {
      const point = s.values[c];
      if (!point) return;
      const x = x0 + k * barW;
      parts.push(
        `<rect x="${x + 1}" y="${y(point.value)}" width="${barW - 2}" height="${plotH - (y(point.value) - pad.top)}" fill="${s.color}"><title>${esc(s.name)} · ${esc(cat)}: ${(point.value * 100).toFixed(1)}%</title></rect>`,
      );
      if (point.ci) {
        const cx = x + barW / 2;
        parts.push(
          `<line x1="${cx}" x2="${cx}" y1="${y(point.ci[0])}" y2="${y(point.ci[1])}" stroke="#111827"/>`,
          `<line x1="${cx - 4}" x2="${cx + 4}" y1="${y(point.ci[0])}" y2="${y(point.ci[0])}" stroke="#111827"/>`,
          `<line x1="${cx - 4}" x2="${cx + 4}" y1="${y(point.ci[1])}" y2="${y(point.ci[1])}" stroke="#111827"/>`,
        );
      }
    });
    parts.push(
      `<text x="${pad.left + c * groupW + groupW / 2}" y="${height - pad.bottom + 16}" text-anchor="middle" font-size="12">${esc(cat)}</text>`,
    );
  });
  return svg(width, height, title, parts) + legend(series);
}

export interface HistogramSeries {
  name: string;
  color: string;
  counts: number[];
}

/** Side-by-side bars per bin; `edges` has one more entry than each `counts`. */
export function histogram(edges: number[], series: HistogramSeries[], title: string, xLabel: string): string {
  const width = 720;
  const height = 230;
  const pad = { left: 48, right: 16, top: 16, bottom: 40 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const bins = edges.length - 1;
  const max = Math.max(1, ...series.flatMap((s) => s.counts));
  const y = (v: number) => pad.top + plotH * (1 - v / max);
  const binW = plotW / Math.max(1, bins);
  const barW = (binW * 0.9) / Math.max(1, series.length);
  const parts: string[] = [];
  for (const frac of [0, 0.5, 1]) {
    const v = Math.round(max * frac);
    parts.push(
      `<line x1="${pad.left}" x2="${width - pad.right}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e7eb"/>`,
      `<text x="${pad.left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11" fill="#6b7280">${v}</text>`,
    );
  }
  for (let b = 0; b < bins; b++) {
    series.forEach((s, k) => {
      const count = s.counts[b] ?? 0;
      if (count === 0) return;
      const x = pad.left + b * binW + binW * 0.05 + k * barW;
      parts.push(
        `<rect x="${x}" y="${y(count)}" width="${Math.max(1, barW - 1)}" height="${pad.top + plotH - y(count)}" fill="${s.color}"><title>${esc(s.name)} ${edges[b]!.toFixed(3)}–${edges[b + 1]!.toFixed(3)}: ${count}</title></rect>`,
      );
    });
  }
  for (let b = 0; b <= bins; b += Math.max(1, Math.round(bins / 5))) {
    parts.push(
      `<text x="${pad.left + b * binW}" y="${pad.top + plotH + 14}" text-anchor="middle" font-size="11" fill="#6b7280">${edges[b]!.toFixed(3)}</text>`,
    );
  }
  parts.push(
    `<text x="${pad.left + plotW / 2}" y="${pad.top + plotH + 30}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>`,
  );
  return svg(width, height, title, parts) + legend(series);
}

/** The legend in HTML beside the SVG, so that long model names wrap instead of running off the chart. */
function legend(series: { name: string; color: string }[]): string {
  const items = series.map((s) => `<span><i style="background:${s.color}"></i>${esc(s.name)}</span>`);
  return `<div class="legend">${items.join('')}</div>`;
}

function svg(width: number, height: number, title: string, parts: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>${parts.join('')}</svg>`;
}
