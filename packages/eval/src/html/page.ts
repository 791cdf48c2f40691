/** HTML text escaping for element content and attribute values. */
export function esc(value: unknown): string {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

export function pct(value: number | null | undefined, digits = 1): string {
  return value === null || value === undefined ? '–' : `${(value * 100).toFixed(digits)}%`;
}

export function ci(range: [number, number] | null | undefined): string {
  return range ? `${(range[0] * 100).toFixed(1)}–${(range[1] * 100).toFixed(1)}` : '–';
}

/** A table from a header row and body rows of already-escaped cells. */
export function table(head: string[], rows: string[][], className = ''): string {
  const th = head.map((h) => `<th>${h}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table class="${className}"><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

export const PALETTE = [
  '#2563eb',
  '#d97706',
  '#059669',
  '#db2777',
  '#7c3aed',
  '#0891b2',
  '#65a30d',
  '#dc2626',
];

const CSS = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; color: #1f2937; margin: 0; background: #f8fafc; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 64px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 8px; border-bottom: 1px solid #e5e7eb; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 20px 0 6px; }
p.meta { color: #6b7280; margin: 0 0 16px; }
table { border-collapse: collapse; background: #fff; margin: 8px 0 16px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #e5e7eb; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f1f5f9; font-weight: 600; }
td { white-space: nowrap; }
td:first-child { white-space: normal; }
td.l, td .l { text-align: left; white-space: normal; }
code { font-size: 12px; background: #eef2f7; padding: 1px 4px; border-radius: 3px; word-break: break-all; }
.note { color: #6b7280; font-size: 13px; }
.warn { color: #b45309; }
figure { margin: 8px 0 16px; background: #fff; border: 1px solid #e5e7eb; display: inline-block; padding: 8px; }
figcaption { font-size: 12px; color: #6b7280; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 12px; max-width: 720px; margin: 4px 0; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 6px; vertical-align: -1px; }
.gallery { display: flex; flex-wrap: wrap; gap: 12px; }
.triplet { background: #fff; border: 1px solid #e5e7eb; padding: 8px; width: 320px; }
.triplet .faces { display: flex; gap: 6px; }
.triplet .face { text-align: center; font-size: 12px; }
.triplet img { width: 96px; height: 96px; object-fit: contain; background: #111; display: block; }
.triplet .human { outline: 3px solid #059669; }
.triplet .model { outline: 3px dashed #dc2626; }
.triplet p { margin: 4px 0 0; font-size: 12px; }
table.confusion td { min-width: 44px; }
details { margin: 8px 0; }
`;

export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body><main>
${body}
</main></body>
</html>
`;
}
