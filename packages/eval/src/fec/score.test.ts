import { describe, expect, it } from 'vitest';
import { cosineDistance, euclideanDistance } from '../embed/distance.ts';
import { subsetStats } from './metrics.ts';
import { scoreTriplet } from './score.ts';
import type { Answer, TripletType } from './types.ts';

const v = (...x: number[]) => Float32Array.from(x);

describe('scoreTriplet', () => {
  it('agrees when the closest pair excludes the humans’ odd face', () => {
    // Faces 1 and 2 point the same way, face 3 is orthogonal: the model's odd face is 3.
    const faces = [v(1, 0), v(0.9, 0.1), v(0, 1)] as const;
    const s = scoreTriplet(faces, 3, cosineDistance);
    expect(s.modelOdd).toBe(3);
    expect(s.credit).toBe(1);
    expect(s.distances[2]).toBeLessThan(s.distances[0]);
    expect(scoreTriplet(faces, 1, cosineDistance).credit).toBe(0);
    expect(scoreTriplet(faces, 2, cosineDistance).credit).toBe(0);
  });

  it('shares an exact tie for the closest pair instead of counting it as a win', () => {
    // 1 and 2 are identical, 3 too: all three pairs are at distance 0.
    const all = [v(1, 2), v(1, 2), v(1, 2)] as const;
    expect(scoreTriplet(all, 2, cosineDistance)).toMatchObject({ credit: 1 / 3, modelOdd: null, margin: 0 });
    // d(1,3) = d(2,3) < d(1,2): pairs excluding 2 and excluding 1 tie.
    const twoWay = [v(0, 1), v(2, 1), v(1, 1)] as const;
    expect(scoreTriplet(twoWay, 1, euclideanDistance).credit).toBe(0.5);
    expect(scoreTriplet(twoWay, 2, euclideanDistance).credit).toBe(0.5);
    expect(scoreTriplet(twoWay, 3, euclideanDistance).credit).toBe(0);
  });

  it('follows the chosen distance: cosine and euclidean can disagree', () => {
    // 1 and 2 point the same way at different lengths; 3 is near 1 in space but at an angle.
    const faces = [v(1, 0), v(10, 0), v(1, 0.5)] as const;
    expect(scoreTriplet(faces, 3, cosineDistance).modelOdd).toBe(3);
    expect(scoreTriplet(faces, 3, euclideanDistance).modelOdd).toBe(2);
  });
});

describe('triplet accuracy on a tiny set with known embeddings', () => {
  // Four expressions as unit vectors; each triplet's true odd one is known.
  const happy = v(1, 0, 0);
  const happy2 = v(0.95, 0.05, 0);
  const sad = v(0, 1, 0);
  const sad2 = v(0.05, 0.95, 0);
  const angry = v(0, 0, 1);
  const set: {
    faces: [Float32Array, Float32Array, Float32Array];
    odd: Answer;
    type: TripletType;
    all: boolean;
  }[] = [
    { faces: [happy, happy2, sad], odd: 3, type: 'TWO_CLASS_TRIPLET', all: true }, // right
    { faces: [sad, angry, sad2], odd: 2, type: 'TWO_CLASS_TRIPLET', all: true }, // right
    { faces: [angry, happy, happy2], odd: 1, type: 'TWO_CLASS_TRIPLET', all: false }, // right
    { faces: [happy, happy2, sad], odd: 1, type: 'ONE_CLASS_TRIPLET', all: false }, // wrong: model says 3
    { faces: [happy, sad, angry], odd: 3, type: 'THREE_CLASS_TRIPLET', all: false }, // 3-way tie: 1/3
  ];

  it('gives 3 of 4 two-/one-class right, a third for the tie: (3 + 1/3) / 5 overall', () => {
    const scores = set.map((t) => scoreTriplet(t.faces, t.odd, cosineDistance).credit);
    expect(scores).toEqual([1, 1, 1, 0, 1 / 3]);
    const stats = subsetStats(
      scores,
      set.map((t) => ({ type: t.type, unanimous: t.all })),
      { samples: 200, seed: 1 },
    );
    expect(stats.overall.n).toBe(5);
    expect(stats.overall.accuracy).toBeCloseTo((3 + 1 / 3) / 5, 15);
    expect(stats.byType.TWO_CLASS_TRIPLET).toMatchObject({ n: 3, accuracy: 1, ci95: [1, 1] });
    expect(stats.byType.ONE_CLASS_TRIPLET).toMatchObject({ n: 1, accuracy: 0 });
    expect(stats.byType.THREE_CLASS_TRIPLET.accuracy).toBeCloseTo(1 / 3, 15);
    expect(stats.strict).toMatchObject({ n: 2, accuracy: 1 });
    const [lo, hi] = stats.overall.ci95!;
    expect(lo).toBeLessThanOrEqual(stats.overall.accuracy!);
    expect(hi).toBeGreaterThanOrEqual(stats.overall.accuracy!);
  });
});
