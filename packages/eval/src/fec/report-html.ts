import { barChart, histogram } from '../html/charts.ts';
import { ci, esc, PALETTE, page, pct, table } from '../html/page.ts';
import type { AccuracyStat } from '../stats/accuracy.ts';
import type { SubsetStats } from './metrics.ts';
import type { FecEvalResult, GalleryItem } from './result.ts';
import { TRIPLET_TYPES } from './types.ts';

const TYPE_NAMES = {
  ONE_CLASS_TRIPLET: 'one-class',
  TWO_CLASS_TRIPLET: 'two-class',
  THREE_CLASS_TRIPLET: 'three-class',
};
const HUMAN_COLOR = '#9ca3af';
const LISTED = 200;

/** The self-contained HTML page of an FEC run: tables, inline SVG charts, thumbnails as data URIs. */
export function renderFecHtml(result: FecEvalResult): string {
  const { params, metrics, report } = result;
  const src = report.source;
  const t = report.triplets;
  const sections: string[] = [];
  sections.push(
    `<h1>FEC triplet agreement</h1>`,
    `<p class="meta">${esc(src.file)} · sha256 <code>${esc(src.sha256.slice(0, 16))}</code> · ${esc(result.createdAt)}<br>` +
      `distance ${esc(params.distance)} · majority: more than half of the annotators · 95% percentile bootstrap, ` +
      `${params.bootstrapSamples} resamples, seed ${params.seed}</p>`,
  );

  // Accuracy table: one row per model output, then the human ceiling.
  const statCell = (s: AccuracyStat) =>
    s.n === 0 ? '–' : `${pct(s.accuracy)} <span class="note">(${s.n})</span>`;
  const row = (name: string, s: SubsetStats, ties: string) => [
    esc(name),
    String(s.overall.n),
    pct(s.overall.accuracy),
    ci(s.overall.ci95),
    ...TRIPLET_TYPES.map((type) => statCell(s.byType[type])),
    statCell(s.strict),
    ties,
  ];
  sections.push(
    `<h2>Agreement with the annotators' majority</h2>`,
    table(
      [
        'model · output',
        'triplets',
        'accuracy',
        '95% CI',
        'one-class',
        'two-class',
        'three-class',
        'strict',
        'tied',
      ],
      [
        ...metrics.variants.map((v) => row(v.variant, v, String(v.tiedTriplets))),
        row('human ceiling (each annotator vs the majority of the others)', metrics.human, '–'),
      ],
    ),
    `<p class="note">A triplet counts when the model's closest pair excludes the majority's odd face. An exact tie for the closest pair scores 1/k when the humans' pair is among the k tied pairs. Strict: used triplets on which all annotators agree (${t.strict}). Per-type and strict cells give the number of triplets in brackets.</p>`,
  );

  const categories = ['all', ...TRIPLET_TYPES.map((type) => TYPE_NAMES[type]), 'strict'];
  const points = (s: SubsetStats) =>
    [s.overall, ...TRIPLET_TYPES.map((type) => s.byType[type]), s.strict].map((a) =>
      a.accuracy === null ? null : { value: a.accuracy, ci: a.ci95 },
    );
  sections.push(
    `<figure>${barChart(
      categories,
      [
        ...metrics.variants.map((v, i) => ({
          name: v.variant,
          color: PALETTE[i % PALETTE.length]!,
          values: points(v),
        })),
        { name: 'human ceiling', color: HUMAN_COLOR, values: points(metrics.human) },
      ],
      'Accuracy per triplet type',
    )}<figcaption>Accuracy per triplet type with 95% bootstrap intervals.</figcaption></figure>`,
  );

  // Counts: nothing is dropped without being counted here.
  const reasons = (rec: Partial<Record<string, number>>) =>
    Object.entries(rec)
      .map(([k, n]) => `${esc(k)} ${n}`)
      .join(', ') || 'none';
  sections.push(
    `<h2>Rows, triplets and images</h2>`,
    table(
      ['', 'count', 'detail'],
      [
        ['CSV rows', String(src.rows), src.blankLines ? `${src.blankLines} blank lines skipped` : ''],
        ['malformed rows', String(src.malformed), reasons(src.malformedByCode)],
        [
          'triplets parsed',
          String(t.parsed),
          TRIPLET_TYPES.map((ty) => `${TYPE_NAMES[ty]} ${t.byType[ty].parsed}`).join(', '),
        ],
        [
          'triplets used',
          String(t.used),
          TRIPLET_TYPES.map((ty) => `${TYPE_NAMES[ty]} ${t.byType[ty].used}`).join(', '),
        ],
        [
          'triplets skipped',
          String(Object.values(t.skipped).reduce((a, b) => a + (b ?? 0), 0)),
          reasons(t.skipped),
        ],
        [
          'annotators per triplet',
          t.annotators.min === t.annotators.max
            ? String(t.annotators.min)
            : `${t.annotators.min}–${t.annotators.max}`,
          '',
        ],
        ['image URLs looked up', String(report.images.urls), `${report.images.resolved} found`],
        [
          'images/faces failed',
          String(Object.values(report.images.failed).reduce((a, b) => a + (b ?? 0), 0)),
          reasons(report.images.failed),
        ],
        ['distinct faces', String(report.faces.unique), `${report.faces.embedded} embedded`],
        ...report.variants.map((v) => [
          `cache · ${esc(v.variant)}`,
          String(v.cache.hits),
          `hits, ${v.cache.misses} misses`,
        ]),
      ].map((r) => r.map((c, i) => (i === 2 ? `<span class="note">${c}</span>` : c))),
    ),
    `<p class="note">Timings (ms): ${Object.entries(result.timings)
      .map(([k, v]) => `${esc(k)} ${v}`)
      .join(' · ')}</p>`,
  );
  if (src.malformed > 0) {
    sections.push(
      `<details><summary class="warn">${src.malformed} malformed rows${src.malformed > LISTED ? ` (first ${LISTED} shown; report.json lists up to 1000)` : ''}</summary>`,
      table(
        ['line', 'code', 'problem'],
        src.malformedRows
          .slice(0, LISTED)
          .map((m) => [String(m.line), esc(m.code), `<span class="l">${esc(m.message)}</span>`]),
      ),
      `</details>`,
    );
  }
  if (report.images.failures.length > 0) {
    sections.push(
      `<details><summary class="warn">${report.images.failures.length + report.images.failuresNotListed} images or faces that could not be used</summary>`,
      table(
        ['url', 'reason', 'detail'],
        report.images.failures
          .slice(0, LISTED)
          .map((f) => [esc(f.url), esc(f.reason), `<span class="l">${esc(f.detail)}</span>`]),
      ),
      `</details>`,
    );
  }

  for (const [i, v] of report.variants.entries()) {
    sections.push(
      `<h2>${esc(v.variant)}</h2>`,
      `<figure>${histogram(
        v.margins.edges,
        [
          { name: 'agrees with the majority', color: PALETTE[2]!, counts: v.margins.agree },
          { name: 'disagrees', color: PALETTE[7]!, counts: v.margins.disagree },
        ],
        `Distance margin, ${v.variant}`,
        `margin: second-closest minus closest pair distance (${params.distance})`,
      )}<figcaption>How sure the model is, for triplets it gets right and wrong${v.margins.tied ? `; ${v.margins.tied} tied triplets (margin 0) left out` : ''}.</figcaption></figure>`,
      `<h3>Most confident disagreements</h3>`,
      v.gallery.length === 0
        ? `<p class="note">None.</p>`
        : `<div class="gallery">${v.gallery.map((g) => galleryItem(g, report.thumbnails)).join('')}</div>`,
    );
    if (i === 0) {
      sections.push(`<p class="note">Green: the majority's odd face. Red dashed: the model's odd face.</p>`);
    }
  }
  sections.push(
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
  return page('fever · FEC triplet agreement', sections.join('\n'));
}

function galleryItem(g: GalleryItem, thumbnails: Record<string, string>): string {
  const faces = [0, 1, 2]
    .map((f) => {
      const id = g.thumbnails[f];
      const uri = id ? thumbnails[id] : undefined;
      const cls = [g.humanOdd === f + 1 ? 'human' : '', g.modelOdd === f + 1 ? 'model' : ''].join(' ').trim();
      const img = uri
        ? `<img src="${uri}" alt="face ${f + 1}" class="${cls}">`
        : `<div class="${cls}">no image</div>`;
      return `<div class="face">${img}${f + 1} · ${g.votes[f]} votes</div>`;
    })
    .join('');
  return `<div class="triplet"><div class="faces">${faces}</div><p>line ${g.line} · ${esc(
    TYPE_NAMES[g.type],
  )} · humans: ${g.humanOdd} · model: ${g.modelOdd ?? 'tie'} · margin ${g.margin.toFixed(4)}</p></div>`;
}
