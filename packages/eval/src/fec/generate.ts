import { InputError } from '@fever/errors';
import { csvLine } from '../csv/write.ts';
import type { LabelledImage } from '../labels.ts';
import { Random } from '../stats/random.ts';
import type { Answer } from './types.ts';

export interface MakeTripletsOptions {
  count: number;
  seed: number;
  /** Faces of one triplet come from distinct groups (e.g. CK+ subjects), so identity cannot solve it. */
  groupBy?: boolean;
  /** Annotator columns written per triplet; 6 as in the public FEC files. */
  annotators?: number;
}

export interface GeneratedTriplet {
  /** Paths as in the labels CSV; they serve as the URLs. */
  faces: [string, string, string];
  odd: Answer;
  labels: [string, string, string];
}

/**
 * TWO_CLASS triplets from a labelled set: two faces of one label and one of another, the odd
 * one at a random position. Labels are drawn uniformly (not by frequency), so that a frequent
 * class does not dominate; faces uniformly within a label. Seeded: the same inputs and seed give
 * the same file. No triplet (as a set of faces) is drawn twice.
 */
export function makeTriplets(
  items: readonly LabelledImage[],
  options: MakeTripletsOptions,
): GeneratedTriplet[] {
  if (!Number.isInteger(options.count) || options.count < 1) {
    throw new InputError('BAD_FLAG', `the triplet count must be a whole number ≥ 1, got ${options.count}`);
  }
  const random = new Random(options.seed);
  const byLabel = new Map<string, LabelledImage[]>();
  for (const item of items) {
    const list = byLabel.get(item.label);
    if (list) list.push(item);
    else byLabel.set(item.label, [item]);
  }
  const labels = [...byLabel.keys()].sort();
  const groupOf = (item: LabelledImage) => (options.groupBy ? item.group : item.path);
  // A label can anchor a triplet when two of its faces come from different groups.
  const anchors = labels.filter((l) => new Set(byLabel.get(l)!.map(groupOf)).size >= 2);
  if (anchors.length === 0 || labels.length < 2) {
    throw new InputError(
      'TRIPLETS_IMPOSSIBLE',
      'a TWO_CLASS triplet needs two labels, one of them with faces from two different groups',
    );
  }
  const triplets: GeneratedTriplet[] = [];
  const seen = new Set<string>();
  const maxAttempts = options.count * 50;
  for (let attempt = 0; attempt < maxAttempts && triplets.length < options.count; attempt++) {
    const anchorLabel = random.pick(anchors);
    const oddLabel = random.pick(labels.filter((l) => l !== anchorLabel));
    const pool = byLabel.get(anchorLabel)!;
    const a = random.pick(pool);
    const others = pool.filter((x) => groupOf(x) !== groupOf(a));
    if (others.length === 0) continue;
    const b = random.pick(others);
    const odds = byLabel.get(oddLabel)!.filter((x) => groupOf(x) !== groupOf(a) && groupOf(x) !== groupOf(b));
    if (odds.length === 0) continue;
    const c = random.pick(odds);
    const key = `${[a.path, b.path].sort().join('\n')}\n${c.path}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const odd = (random.int(3) + 1) as Answer;
    const pair = random.int(2) === 0 ? [a, b] : [b, a];
    const faces = [...pair];
    faces.splice(odd - 1, 0, c);
    triplets.push({
      faces: faces.map((f) => f.path) as GeneratedTriplet['faces'],
      odd,
      labels: faces.map((f) => f.label) as GeneratedTriplet['labels'],
    });
  }
  if (triplets.length < options.count) {
    throw new InputError(
      'TRIPLETS_EXHAUSTED',
      `only ${triplets.length} distinct triplets of the ${options.count} asked for could be drawn from this set`,
    );
  }
  return triplets;
}

/**
 * Generated triplets as FEC CSV rows (no header): each face with the whole-image box 0,1,0,1,
 * the type TWO_CLASS_TRIPLET, and `annotators` annotators who all name the odd face.
 */
export function formatFecCsv(triplets: readonly GeneratedTriplet[], annotators = 6): string {
  return triplets
    .map((t) => {
      const faces = t.faces.flatMap((url) => [url, 0, 1, 0, 1]);
      const answers = Array.from({ length: annotators }, (_, i) => [
        `fever-generated-${i + 1}`,
        t.odd,
      ]).flat();
      return `${csvLine([...faces, 'TWO_CLASS_TRIPLET', ...answers])}\n`;
    })
    .join('');
}
