import type { LabelledImage } from '../labels.ts';
import { rankQuery } from './rank.ts';
import type { RetrievalReport, RetrievalVariantMetrics } from './result.ts';

export const KNN_KS = [1, 5, 10] as const;
export const PRECISION_K = 10;

/**
 * Leave-one-out retrieval over the usable items: each queries all others except those of its own
 * group, and the per-query figures (tie-aware, see rankQuery) are averaged overall and per label.
 */
export function scoreQueries(
  usable: readonly number[],
  items: readonly LabelledImage[],
  table: readonly (Float32Array | undefined)[],
  labelIndex: ReadonlyMap<string, number>,
  distance: (a: Float32Array, b: Float32Array) => number,
): {
  withoutCandidates: number[];
  metrics: Omit<RetrievalVariantMetrics, 'variant' | 'model' | 'output' | 'distance'>;
  perLabel: Omit<RetrievalReport['variants'][number]['perLabel'][number], 'label'>[];
  confusion: number[][][];
} {
  const numLabels = labelIndex.size;
  const label = (i: number) => labelIndex.get(items[i]!.label)!;
  const sums = { knn: KNN_KS.map(() => 0), precision: 0, ap: 0, apQueries: 0, chance: 0, queries: 0 };
  const ties = { atK: KNN_KS.map(() => 0), atP: 0, mixedGroups: 0, mixedQueries: 0 };
  const perLabel = Array.from({ length: numLabels }, () => ({
    queries: 0,
    knn: KNN_KS.map(() => 0),
    precisionAt10: 0,
    apSum: 0,
    apQueries: 0,
  }));
  const confusion = KNN_KS.map(() =>
    Array.from({ length: numLabels }, () => new Array<number>(numLabels).fill(0)),
  );
  const withoutCandidates: number[] = [];
  for (const q of usable) {
    const group = items[q]!.group;
    const candidates = usable.filter((c) => c !== q && (group === null || items[c]!.group !== group));
    if (candidates.length === 0) {
      withoutCandidates.push(q);
      continue;
    }
    const distances = new Float64Array(candidates.length);
    const labels = new Int32Array(candidates.length);
    candidates.forEach((c, j) => {
      distances[j] = distance(table[q]!, table[c]!);
      labels[j] = label(c);
    });
    const truth = label(q);
    const s = rankQuery(distances, labels, truth, numLabels, KNN_KS, PRECISION_K);
    const pl = perLabel[truth]!;
    sums.queries++;
    pl.queries++;
    s.knn.forEach((credit, k) => {
      sums.knn[k]! += credit;
      pl.knn[k]! += credit;
      s.predicted[k]!.forEach((share, l) => {
        confusion[k]![truth]![l]! += share;
      });
      if (s.tieAtK[k]) ties.atK[k]!++;
    });
    sums.precision += s.precision;
    pl.precisionAt10 += s.precision;
    sums.chance += s.relevant / s.candidates;
    if (s.tieAtPrecisionK) ties.atP++;
    ties.mixedGroups += s.mixedTieGroups;
    if (s.mixedTieGroups > 0) ties.mixedQueries++;
    if (s.averagePrecision !== null) {
      sums.ap += s.averagePrecision;
      sums.apQueries++;
      pl.apSum += s.averagePrecision;
      pl.apQueries++;
    }
  }
  const n = sums.queries;
  const div = (a: number, b: number) => (b === 0 ? 0 : a / b);
  return {
    withoutCandidates,
    metrics: {
      queries: n,
      knn: KNN_KS.map((k, i) => ({ k, accuracy: div(sums.knn[i]!, n) })),
      precisionAt10: div(sums.precision, n),
      map: sums.apQueries === 0 ? null : sums.ap / sums.apQueries,
      mapQueries: sums.apQueries,
      chancePrecisionAt10: div(sums.chance, n),
      ties: {
        queriesWithTieAtK: KNN_KS.map((k, i) => ({ k, queries: ties.atK[i]! })),
        queriesWithTieAtPrecisionK: ties.atP,
        mixedTieGroups: ties.mixedGroups,
        queriesWithMixedTies: ties.mixedQueries,
      },
    },
    perLabel: perLabel.map((p) => ({
      queries: p.queries,
      knn: p.knn.map((c) => div(c, p.queries)),
      precisionAt10: div(p.precisionAt10, p.queries),
      map: p.apQueries === 0 ? null : p.apSum / p.apQueries,
    })),
    confusion,
  };
}
