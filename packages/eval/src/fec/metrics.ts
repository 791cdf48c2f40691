import { type AccuracyStat, accuracyStat, type BootstrapSettings } from '../stats/accuracy.ts';
import type { TripletScore } from './score.ts';
import { TRIPLET_TYPES, type TripletType } from './types.ts';

/** Accuracy over all used triplets, per triplet type, and on the strict (unanimous) subset. */
export interface SubsetStats {
  overall: AccuracyStat;
  byType: Record<TripletType, AccuracyStat>;
  strict: AccuracyStat;
}

export interface UsedTripletInfo {
  type: TripletType;
  unanimous: boolean;
}

export function subsetStats(
  scores: readonly (number | null)[],
  triplets: readonly UsedTripletInfo[],
  bootstrap: BootstrapSettings,
): SubsetStats {
  const byType = {} as Record<TripletType, AccuracyStat>;
  for (const type of TRIPLET_TYPES) {
    byType[type] = accuracyStat(
      scores.map((s, i) => (triplets[i]!.type === type ? s : null)),
      bootstrap,
      type,
    );
  }
  return {
    overall: accuracyStat(scores, bootstrap, 'all'),
    byType,
    strict: accuracyStat(
      scores.map((s, i) => (triplets[i]!.unanimous ? s : null)),
      bootstrap,
      'strict',
    ),
  };
}

/** Margins of the triplets the model gets right and wrong; ties (margin 0, fractional score) apart. */
export interface MarginHistogram {
  /** Bin edges, bins + 1 of them, from 0 to the largest margin. */
  edges: number[];
  agree: number[];
  disagree: number[];
  tied: number;
}

export function marginHistogram(scores: readonly TripletScore[], bins = 20): MarginHistogram {
  let max = 0;
  for (const s of scores) if (s.modelOdd !== null) max = Math.max(max, s.margin);
  const top = max > 0 ? max : 1;
  const edges = Array.from({ length: bins + 1 }, (_, i) => (top * i) / bins);
  const agree = new Array<number>(bins).fill(0);
  const disagree = new Array<number>(bins).fill(0);
  let tied = 0;
  for (const s of scores) {
    if (s.modelOdd === null) {
      tied++;
      continue;
    }
    const bin = Math.min(bins - 1, Math.floor((s.margin / top) * bins));
    (s.credit === 1 ? agree : disagree)[bin]!++;
  }
  return { edges, agree, disagree, tied };
}
