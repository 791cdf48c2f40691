export type DistanceName = 'cosine' | 'euclidean';
export const DISTANCES: readonly DistanceName[] = ['cosine', 'euclidean'];

export type Distance = (a: Float32Array, b: Float32Array) => number;

/**
 * Distances in float64 with a fixed summation order, so that two identical vectors always give
 * bit-identical distances: exact ties are then real ties, which the metrics count and share fairly.
 */
export function distanceFunction(name: DistanceName): Distance {
  return name === 'cosine' ? cosineDistance : euclideanDistance;
}

/** 1 − cos(a, b). Vectors need not be normalised (class probabilities are not); a zero vector is at 1. */
export function cosineDistance(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  if (na === 0 || nb === 0) return 1;
  return 1 - dot / Math.sqrt(na * nb);
}

export function euclideanDistance(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    sum += d * d;
  }
  return Math.sqrt(sum);
}
