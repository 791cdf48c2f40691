import { barChart } from '../html/charts.ts';
import { esc, PALETTE, page, pct, table } from '../html/page.ts';
import type { RetrievalEvalResult } from './result.ts';

const LISTED = 200;

/** The self-contained HTML page of a retrieval run: tables, an inline SVG chart and confusion matrices. */
export function renderRetrievalHtml(result: RetrievalEvalResult): string {
  const { params, metrics, report } = result;
  const sections: string[] = [];
  sections.push(
    `<h1>Retrieval quality</h1>`,
    `<p class="meta">${esc(params.labels)} · sha256 <code>${esc(report.labels.sha256.slice(0, 16))}</code> · ${esc(result.createdAt)}<br>` +
      `faces: ${esc(params.faces)} · ${params.groupBy ? `neighbours of the same ${esc(params.groupBy)} left out (${report.labels.groups} groups)` : 'no grouping: every other image is a candidate'} · distance ${esc(params.distance)}</p>`,
  );
  sections.push(
    `<h2>Leave-one-out retrieval</h2>`,
    table(
      [
        'model · output',
        'queries',
        'kNN@1',
        'kNN@5',
        'kNN@10',
        'P@10',
        'mAP',
        'chance P@10',
        'ties at k=1/5/10',
        'mixed tie groups',
      ],
      metrics.variants.map((v) => [
        esc(v.variant),
        String(v.queries),
        ...v.knn.map((k) => pct(k.accuracy)),
        pct(v.precisionAt10),
        pct(v.map),
        pct(v.chancePrecisionAt10),
        v.ties.queriesWithTieAtK.map((t) => t.queries).join(' / '),
        `${v.ties.mixedTieGroups} <span class="note">(${v.ties.queriesWithMixedTies} queries)</span>`,
      ]),
    ),
    `<p class="note">Each image queries all others${params.groupBy ? ` except those of its own ${esc(params.groupBy)}` : ''}; relevant = same label. kNN@k: the majority label of the k nearest is the query's label (a vote tie among t labels counts 1/t). Exact distance ties are never broken by input order: every figure is the expectation over all orderings of each tie group. "Ties at k": queries whose k-th rank falls inside a tie group; "mixed tie groups": tie groups holding same-label and other images (they move mAP).</p>`,
  );
  sections.push(
    `<figure>${barChart(
      ['kNN@1', 'kNN@5', 'kNN@10', 'P@10', 'mAP'],
      metrics.variants.map((v, i) => ({
        name: v.variant,
        color: PALETTE[i % PALETTE.length]!,
        values: [...v.knn.map((k) => k.accuracy), v.precisionAt10, v.map].map((x) =>
          x === null ? null : { value: x, ci: null },
        ),
      })),
      'Retrieval metrics',
    )}<figcaption>Leave-one-out retrieval metrics.</figcaption></figure>`,
  );
  const img = report.images;
  sections.push(
    `<h2>Images</h2>`,
    table(
      ['', 'count'],
      [
        ['labelled images', String(report.labels.items)],
        ['used', String(img.used)],
        ['unreadable', String(img.unreadable.length)],
        ...(params.faces === 'detect' ? [['no face detected', String(img.noFace.length)]] : []),
        ['without candidates (whole set in one group)', String(img.withoutCandidates.length)],
      ],
    ),
    table(
      ['label', 'images'],
      Object.entries(report.labels.byLabel)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([l, n]) => [esc(l), String(n)]),
    ),
  );
  if (img.noFace.length > 0) {
    sections.push(
      `<details><summary class="warn">${img.noFace.length} images without a detected face</summary><p>${img.noFace
        .slice(0, LISTED)
        .map((p) => `<code>${esc(p)}</code>`)
        .join(' ')}${img.noFace.length > LISTED ? ' …' : ''}</p></details>`,
    );
  }
  if (img.unreadable.length > 0) {
    sections.push(
      `<details><summary class="warn">${img.unreadable.length} unreadable images</summary>`,
      table(
        ['path', 'code', 'message'],
        img.unreadable
          .slice(0, LISTED)
          .map((u) => [esc(u.path), esc(u.code), `<span class="l">${esc(u.message)}</span>`]),
      ),
      `</details>`,
    );
  }
  for (const v of report.variants) {
    sections.push(
      `<h2>${esc(v.variant)}</h2>`,
      table(
        ['label', 'queries', 'kNN@1', 'kNN@5', 'kNN@10', 'P@10', 'mAP'],
        v.perLabel.map((p) => [
          esc(p.label),
          String(p.queries),
          ...p.knn.map((x) => pct(x)),
          pct(p.precisionAt10),
          pct(p.map),
        ]),
      ),
    );
    const c = v.confusion.find((m) => m.k === 1);
    if (c)
      sections.push(
        `<h3>Confusion matrix, nearest neighbour (k = 1)</h3>`,
        confusionTable(c.labels, c.matrix),
      );
    if (v.cache)
      sections.push(`<p class="note">Embedding cache: ${v.cache.hits} hits, ${v.cache.misses} misses.</p>`);
  }
  sections.push(
    `<p class="note">Timings (ms): ${Object.entries(result.timings)
      .map(([k, t]) => `${esc(k)} ${t}`)
      .join(' · ')}</p>`,
    `<h2>Models</h2>`,
    table(
      ['model', 'version', 'sha256', 'manifest'],
      result.models.map((m) => [
        esc(m.id),
        esc(m.version),
        `<code>${esc(m.sha256.slice(0, 16))}</code>`,
        `<code>${esc(m.manifest)}</code>`,
      ]),
    ),
  );
  return page('fever · retrieval quality', sections.join('\n'));
}

/** Rows: true label; columns: predicted; cells shaded by the row share. Counts are expectations (ties), so may be fractional. */
function confusionTable(labels: string[], matrix: number[][]): string {
  const rows = matrix.map((row, r) => {
    const total = row.reduce((a, b) => a + b, 0);
    const cells = row.map((value, c) => {
      const share = total > 0 ? value / total : 0;
      const bg = r === c ? `rgba(5,150,105,${share.toFixed(3)})` : `rgba(220,38,38,${share.toFixed(3)})`;
      const text = Number.isInteger(value) ? String(value) : value.toFixed(1);
      return `<td style="background:${bg}" title="${(share * 100).toFixed(1)}% of ${esc(labels[r])}">${text}</td>`;
    });
    return `<tr><th>${esc(labels[r])}</th>${cells.join('')}</tr>`;
  });
  const head = `<tr><th>true \\ predicted</th>${labels.map((l) => `<th>${esc(l)}</th>`).join('')}</tr>`;
  return `<table class="confusion"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;
}
