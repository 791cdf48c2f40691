import type { Distance } from '../embed/distance.ts';
import type { Answer } from './types.ts';

export interface TripletScore {
  /**
   * 1 when the model's closest pair is the pair that excludes the humans' odd face, 0 when it is
   * another pair. When the smallest distance is shared exactly by k pairs, 1/k if the humans' pair
   * is among them: the expected score of a fair coin, so a tie can never count as a win.
   */
  credit: number;
  /** The face the model finds most different, or null when the closest pair is a tie. */
  modelOdd: Answer | null;
  /** The second-smallest pair distance minus the smallest: how sure the model is (0 on a tie). */
  margin: number;
  /** Distance of the pair that excludes face 1, 2 and 3 (i.e. d23, d13, d12). */
  distances: [number, number, number];
}

export function scoreTriplet(
  vectors: readonly [Float32Array, Float32Array, Float32Array],
  humanOdd: Answer,
  distance: Distance,
): TripletScore {
  const [a, b, c] = vectors;
  const distances: [number, number, number] = [distance(b, c), distance(a, c), distance(a, b)];
  const sorted = [...distances].sort((x, y) => x - y) as [number, number, number];
  const closest = sorted[0];
  const tied = distances.filter((d) => d === closest).length;
  const credit = distances[humanOdd - 1] === closest ? 1 / tied : 0;
  const modelOdd = tied === 1 ? ((distances.indexOf(closest) + 1) as Answer) : null;
  return { credit, modelOdd, margin: sorted[1] - closest, distances };
}
