import { execFile } from 'node:child_process';
import { appendFile, mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sharedData } from '@fever/encoder/testing';
import type { FecEvalResult, RetrievalEvalResult } from '@fever/eval';
import { chromiumAvailable, renderInChromium } from '@fever/eval/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../harness/harness.ts';

// The whole path as a user runs it: the `fever` command in a child process (the CLI app is not
// imported, only run), real CK+ images, the real ONNX model, and the report in a real browser.
const repo = fileURLToPath(new URL('../../', import.meta.url));
const artifacts = join(repo, 'test-artifacts');
const root = sharedData('ckplus48');
const browser = chromiumAvailable();

async function fever(args: string[]) {
  const started = performance.now();
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], {
      env: { ...process.env, FEVER_DEVICE: 'cpu' },
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr, ms: performance.now() - started };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr, ms: performance.now() - started };
  }
}

const readJson = async <T>(file: string) => JSON.parse(await readFile(file, 'utf8')) as T;

describe.skipIf(!root)('fever eval on CK+48 (end to end)', () => {
  let dir: string;
  let triplets: string;
  let cache: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fever-eval-e2e-'));
    triplets = join(dir, 'triplets.csv');
    cache = join(dir, 'cache');
  });

  it('generates FEC-format triplets grouped by subject', async () => {
    const r = await fever([
      'eval',
      'make-triplets',
      '--labels',
      join(root!, 'labels.csv'),
      '--out',
      triplets,
      '--count',
      '300',
      '--seed',
      '7',
      '--group-by',
      'subject',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('wrote 300 TWO_CLASS triplets');
    const lines = (await readFile(triplets, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(300);
    expect(lines[0]!.split(',')).toHaveLength(28);
    // Rows that must be counted, not dropped: two malformed, one image missing, one face box with
    // no pixels, one 3–3 split. Lines 301–305.
    const ok = lines[0]!.split(',');
    const row = (f: (cells: string[]) => void) => {
      const cells = [...ok];
      f(cells);
      return cells.join(',');
    };
    await appendFile(
      triplets,
      `${[
        'too,short',
        row((c) => {
          c[17] = '4';
        }),
        row((c) => {
          c[0] = 'anger/NOT_THERE.png';
        }),
        row((c) => {
          c[2] = '0.01'; // 0.48 px of a 48 px image: nothing to crop
        }),
        row((c) => {
          for (const k of [17, 19, 21]) c[k] = '1';
          for (const k of [23, 25, 27]) c[k] = '2';
        }),
      ].join('\n')}\n`,
    );
  });

  let first: FecEvalResult;

  it('scores the triplets with both model outputs, and counts every row it could not use', async () => {
    const out = join(dir, 'fec');
    const args = ['eval', 'fec', triplets, '--images', root!, '--output', 'embedding', '--output', 'probs'];
    const r = await fever([...args, '--cache', cache, '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/fever-expression@\S+ embedding\s+300\s+\d+\.\d%/);
    first = await readJson<FecEvalResult>(join(out, 'report.json'));
    const { report, metrics } = first;
    expect(report.source).toMatchObject({ rows: 305, triplets: 303, malformed: 2 });
    expect(report.source.malformedRows.map((m) => [m.line, m.code])).toEqual([
      [301, 'TOO_FEW_COLUMNS'],
      [302, 'BAD_ANSWER'],
    ]);
    expect(report.triplets).toMatchObject({
      parsed: 303,
      used: 300,
      skipped: { 'no-majority': 1, 'not-in-folder': 1, 'empty-box': 1 },
      strict: 300,
    });
    expect(report.triplets.byType.TWO_CLASS_TRIPLET).toEqual({ parsed: 303, used: 300 });
    expect(report.images.failed).toEqual({ 'not-in-folder': 1, 'empty-box': 1 });
    expect(metrics.variants.map((v) => [v.model.split('@')[0], v.output, v.distance])).toEqual([
      ['fever-expression', 'embedding', 'cosine'],
      ['fever-expression', 'probs', 'cosine'],
    ]);
    for (const v of metrics.variants) {
      expect(v.overall.n).toBe(300);
      expect(v.byType.TWO_CLASS_TRIPLET.n).toBe(300);
      expect(v.byType.ONE_CLASS_TRIPLET).toEqual({ n: 0, accuracy: null, ci95: null });
      // Far above chance (1/3) on posed CK+ expressions, below perfect.
      expect(v.overall.accuracy!).toBeGreaterThan(0.7);
      expect(v.overall.accuracy!).toBeLessThan(1);
      const [lo, hi] = v.overall.ci95!;
      expect(lo).toBeLessThan(v.overall.accuracy!);
      expect(hi).toBeGreaterThan(v.overall.accuracy!);
    }
    // Generated annotators all agree: the human ceiling is 1.
    expect(metrics.human.overall).toMatchObject({ n: 300, accuracy: 1 });
    const unique = report.faces.unique;
    // Faces of images that were found: the missing image never reaches the cache.
    expect(report.variants.map((v) => v.cache)).toEqual([
      { hits: 0, misses: unique },
      { hits: 0, misses: unique },
    ]);
    expect(report.variants[0]!.gallery.length).toBeGreaterThan(0);
    expect(Object.keys(report.thumbnails).length).toBeGreaterThan(0);
    console.log(
      `fec eval, first run: ${Math.round(r.ms)} ms wall, ${first.timings.totalMs} ms in the run (embed ${first.timings.embedMs} ms)`,
    );
  });

  it('serves a second run from the cache, faster, with identical figures', async () => {
    const out = join(dir, 'fec-again');
    const args = ['eval', 'fec', triplets, '--images', root!, '--output', 'embedding', '--output', 'probs'];
    const r = await fever([...args, '--cache', cache, '--out', out]);
    expect(r.code).toBe(0);
    const again = await readJson<FecEvalResult>(join(out, 'report.json'));
    expect(again.metrics).toEqual(first.metrics);
    // Only the box with no pixels misses again: a failure is not cached, it is tried and counted anew.
    expect(again.report.variants.map((v) => v.cache.misses)).toEqual([1, 1]);
    expect(again.report.variants[0]!.cache.hits).toBe(first.report.faces.unique - 1);
    expect(again.timings.embedMs).toBeLessThan(first.timings.embedMs);
    console.log(
      `fec eval, second run: ${Math.round(r.ms)} ms wall, ${again.timings.totalMs} ms in the run (embed ${again.timings.embedMs} ms, all from the cache)`,
    );
  });

  it.skipIf(!browser)('renders the FEC report in headless Chromium, self-contained', async () => {
    const shot = join(artifacts, 'eval-fec-report.png');
    const page = await renderInChromium(join(dir, 'fec', 'report.html'), shot);
    expect(page.title).toBe('fever · FEC triplet agreement');
    expect(page.externalRequests).toEqual([]);
    expect(page.pageErrors).toEqual([]);
    expect(page.svgs).toBeGreaterThanOrEqual(3); // per-type bars + one margin histogram per output
    expect(page.tables).toBeGreaterThanOrEqual(3);
    expect(page.images).toBeGreaterThan(0);
    expect(page.brokenImages).toBe(0);
    expect((await stat(shot)).size).toBeGreaterThan(10_000);
  });

  it('measures retrieval by subject and renders its report', async () => {
    const out = join(dir, 'retrieval');
    const r = await fever([
      'eval',
      'retrieval',
      '--labels',
      join(root!, 'labels.csv'),
      '--group-by',
      'subject',
      '--output',
      'embedding',
      '--output',
      'probs',
      '--cache',
      cache,
      '--out',
      out,
    ]);
    expect(r.code).toBe(0);
    const result = await readJson<RetrievalEvalResult>(join(out, 'report.json'));
    expect(result.report.images).toMatchObject({
      used: 981,
      unreadable: [],
      noFace: [],
      withoutCandidates: [],
    });
    expect(result.report.labels).toMatchObject({ items: 981, groups: 118 });
    for (const v of result.metrics.variants) {
      expect(v.queries).toBe(981);
      expect(v.knn.map((k) => k.k)).toEqual([1, 5, 10]);
      for (const figure of [...v.knn.map((k) => k.accuracy), v.precisionAt10, v.map!]) {
        expect(figure).toBeGreaterThan(v.chancePrecisionAt10);
        expect(figure).toBeLessThanOrEqual(1);
      }
      expect(v.ties.queriesWithTieAtK).toHaveLength(3);
    }
    const confusion = result.report.variants[0]!.confusion[0]!;
    expect(confusion.labels).toEqual([
      'anger',
      'contempt',
      'disgust',
      'fear',
      'happy',
      'sadness',
      'surprise',
    ]);
    const total = confusion.matrix.flat().reduce((a, b) => a + b, 0);
    expect(total).toBeCloseTo(981, 9);
    // The triplet run cached its whole-image crops: the same cache keys serve retrieval.
    expect(result.report.variants[0]!.cache!.hits).toBe(first.report.faces.unique - 1);
    const page = await renderInChromium(
      join(out, 'report.html'),
      join(artifacts, 'eval-retrieval-report.png'),
    );
    expect(page.title).toBe('fever · retrieval quality');
    expect(page.externalRequests).toEqual([]);
    expect(page.pageErrors).toEqual([]);
    expect(page.tables).toBeGreaterThanOrEqual(5);
  });
});
