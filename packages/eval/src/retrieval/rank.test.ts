import { describe, expect, it } from 'vitest';
import { Random } from '../stats/random.ts';
import { rankQuery } from './rank.ts';

const KS = [1, 3, 5];

/** The metrics of one fixed ranking (candidate indices in rank order), computed the textbook way. */
function naive(
  order: number[],
  labels: number[],
  truth: number,
  numLabels: number,
  ks: number[],
  pk: number,
) {
  const knn = ks.map((k) => {
    const counts = new Array(numLabels).fill(0);
    for (const i of order.slice(0, k)) counts[labels[i]!]++;
    const best = Math.max(...counts);
    const winners = counts.flatMap((c, l) => (c === best ? [l] : []));
    return winners.includes(truth) ? 1 / winners.length : 0;
  });
  const hits = order.slice(0, pk).filter((i) => labels[i] === truth).length;
  let seen = 0;
  let ap = 0;
  order.forEach((i, rank) => {
    if (labels[i] === truth) ap += ++seen / (rank + 1);
  });
  return { knn, precision: hits / Math.min(pk, order.length), ap: seen === 0 ? null : ap / seen };
}

/** Every ordering that only permutes candidates at exactly equal distance. */
function tieOrderings(distances: number[]): number[][] {
  const sorted = distances.map((_, i) => i).sort((a, b) => distances[a]! - distances[b]!);
  const groups: number[][] = [];
  for (const i of sorted) {
    const last = groups.at(-1);
    if (last && distances[last[0]!] === distances[i]) last.push(i);
    else groups.push([i]);
  }
  const permutations = (xs: number[]): number[][] =>
    xs.length <= 1
      ? [xs]
      : xs.flatMap((x, k) => permutations(xs.filter((_, j) => j !== k)).map((p) => [x, ...p]));
  return groups.reduce<number[][]>(
    (acc, g) => acc.flatMap((prefix) => permutations(g).map((p) => [...prefix, ...p])),
    [[]],
  );
}

function expectMatchesBruteForce(distances: number[], labels: number[], truth: number, numLabels: number) {
  const orders = tieOrderings(distances);
  const runs = orders.map((o) => naive(o, labels, truth, numLabels, KS, 4));
  const avg = (f: (r: (typeof runs)[number]) => number) => runs.reduce((s, r) => s + f(r), 0) / runs.length;
  const got = rankQuery(Float64Array.from(distances), Int32Array.from(labels), truth, numLabels, KS, 4);
  KS.forEach((_, k) => {
    expect(got.knn[k]).toBeCloseTo(
      avg((r) => r.knn[k]!),
      12,
    );
  });
  expect(got.precision).toBeCloseTo(
    avg((r) => r.precision),
    12,
  );
  if (got.averagePrecision === null) expect(runs[0]!.ap).toBeNull();
  else
    expect(got.averagePrecision).toBeCloseTo(
      avg((r) => r.ap!),
      12,
    );
}

describe('rankQuery', () => {
  it('gives the textbook figures when there is no tie', () => {
    // Ranked labels: 1 0 1 0 0 1 (truth 1). AP = (1/1 + 2/3 + 3/6) / 3.
    const s = rankQuery(
      Float64Array.from([1, 2, 3, 4, 5, 6]),
      Int32Array.from([1, 0, 1, 0, 0, 1]),
      1,
      2,
      [1, 3, 5],
      4,
    );
    expect(s.knn).toEqual([1, 1, 0]);
    expect(s.precision).toBe(0.5);
    expect(s.averagePrecision).toBeCloseTo((1 + 2 / 3 + 3 / 6) / 3, 15);
    expect(s.tieAtK).toEqual([false, false, false]);
    expect(s.mixedTieGroups).toBe(0);
  });

  it('cannot be inflated by input order: a tie sorted label-first scores its expectation', () => {
    // Ten candidates all at the same distance, the 3 same-label ones first, as in a label-sorted
    // CSV. A stable sort would rank them 1–3: P@4 = 3/4, kNN@1 = 1, AP = 1.
    const distances = new Array(10).fill(0.5);
    const labels = [1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
    const inputOrder = naive([...Array(10).keys()], labels, 1, 2, KS, 4);
    expect(inputOrder).toMatchObject({ precision: 0.75, ap: 1 });
    expect(inputOrder.knn[0]).toBe(1);
    const s = rankQuery(Float64Array.from(distances), Int32Array.from(labels), 1, 2, KS, 4);
    expect(s.knn[0]).toBeCloseTo(0.3, 15); // 3 of the 10 could come first
    expect(s.precision).toBeCloseTo(0.3, 15); // 4 draws × 3/10, over 4
    // Expected AP of a random order of 3 relevant in 10: mean over positions of precision.
    expect(s.averagePrecision!).toBeLessThan(0.5);
    expect(s.tieAtK).toEqual([true, true, true]);
    expect(s.mixedTieGroups).toBe(1);
    // Reversing the input (other labels first) changes nothing.
    const reversed = rankQuery(
      Float64Array.from(distances),
      Int32Array.from([...labels].reverse()),
      1,
      2,
      KS,
      4,
    );
    expect(reversed).toEqual(s);
  });

  it('equals the average over every ordering of the tie groups (brute force)', () => {
    expectMatchesBruteForce([0.1, 0.2, 0.2, 0.2, 0.3, 0.3, 0.4], [1, 0, 1, 2, 1, 0, 2], 1, 3);
    expectMatchesBruteForce([0.5, 0.5, 0.5, 0.5, 0.5, 0.5], [0, 1, 2, 1, 0, 2], 2, 3);
    expectMatchesBruteForce([0.2, 0.2, 0.1, 0.1, 0.3], [0, 0, 1, 1, 0], 0, 2);
    // No relevant candidate: AP is undefined.
    expectMatchesBruteForce([0.1, 0.1, 0.2], [0, 0, 1], 2, 3);
    // Random small cases with many ties.
    const r = new Random(11);
    for (let trial = 0; trial < 40; trial++) {
      const n = 2 + r.int(6);
      const distances = Array.from({ length: n }, () => r.int(3) / 4);
      const labels = Array.from({ length: n }, () => r.int(3));
      expectMatchesBruteForce(distances, labels, r.int(3), 3);
    }
  });

  it('splits a kNN vote tie evenly and says so in the predicted shares', () => {
    // k = 3 with labels 0, 1, 2 at distinct distances: a three-way vote tie.
    const s = rankQuery(Float64Array.from([1, 2, 3, 4]), Int32Array.from([0, 1, 2, 2]), 0, 3, [3], 3);
    expect(s.knn[0]).toBeCloseTo(1 / 3, 15);
    expect([...s.predicted[0]!]).toEqual([1 / 3, 1 / 3, 1 / 3]);
  });
});
