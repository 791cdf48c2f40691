import { bootstrapMeanCi } from './bootstrap.ts';

/** A mean of per-item scores in [0, 1] with its 95% percentile-bootstrap interval. */
export interface AccuracyStat {
  n: number;
  /** Null when n is 0. */
  accuracy: number | null;
  ci95: [number, number] | null;
}

export interface BootstrapSettings {
  samples: number;
  seed: number;
}

/**
 * Accuracy of the given scores (nulls are left out). The bootstrap seed is derived from the run's
 * seed and the subset's name only, so every model of a run resamples the same triplets (paired
 * intervals) and a figure does not change when other subsets or models are added.
 */
export function accuracyStat(
  scores: readonly (number | null)[],
  bootstrap: BootstrapSettings,
  subset: string,
): AccuracyStat {
  const values = scores.filter((s): s is number => s !== null);
  if (values.length === 0) return { n: 0, accuracy: null, ci95: null };
  let sum = 0;
  for (const v of values) sum += v;
  const ci95 = bootstrapMeanCi(values, { samples: bootstrap.samples, seed: `${bootstrap.seed}:${subset}` });
  return { n: values.length, accuracy: sum / values.length, ci95 };
}
