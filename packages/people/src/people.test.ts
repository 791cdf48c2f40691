import { describe, expect, it } from 'vitest';
import { clusterDescriptors, EXACT_LIMIT } from './cluster.ts';
import { pairwiseAgreement } from './metrics.ts';
import { stableIds } from './stable-ids.ts';

/** A seeded generator (mulberry32), so every run sees the same points. */
function random(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function unit(v: Float32Array): Float32Array {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

/** `people` random unit centres in 128-d, `per` faces each at cosine distance ≈ spread² / 2 from theirs. */
function faces(people: number, per: number, spread: number, seed = 1) {
  const rnd = random(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
  const descriptors: Float32Array[] = [];
  const truth: number[] = [];
  for (let p = 0; p < people; p++) {
    const centre = unit(Float32Array.from({ length: 128 }, gauss));
    for (let f = 0; f < per; f++) {
      const noise = Float32Array.from({ length: 128 }, () => (gauss() * spread) / Math.sqrt(128));
      descriptors.push(unit(centre.map((c, k) => c + noise[k]!)));
      truth.push(p);
    }
  }
  return { descriptors, truth };
}

describe('clusterDescriptors', () => {
  it('finds well-separated people exactly, whatever order the faces come in', () => {
    const { descriptors, truth } = faces(30, 8, 0.3);
    const { labels, count } = clusterDescriptors(descriptors, { threshold: 0.2 });
    expect(count).toBe(30);
    expect(pairwiseAgreement(labels, truth)).toMatchObject({ precision: 1, recall: 1 });
    const order = descriptors.map((_, i) => i).reverse();
    const again = clusterDescriptors(
      order.map((i) => descriptors[i]!),
      { threshold: 0.2 },
    );
    expect(
      pairwiseAgreement(
        again.labels,
        order.map((i) => truth[i]!),
      ),
    ).toMatchObject({ precision: 1, recall: 1 });
  });

  it('links nothing at threshold 0 and everything near enough at a wide one', () => {
    const { descriptors } = faces(5, 4, 0.3);
    expect(clusterDescriptors(descriptors, { threshold: 0 }).count).toBe(20);
    expect(clusterDescriptors(descriptors, { threshold: 1.5, neighbours: 19 }).count).toBe(1);
  });

  it('uses an HNSW graph above the exact limit and still finds the people', () => {
    const { descriptors, truth } = faces(Math.ceil((EXACT_LIMIT + 500) / 6), 6, 0.3, 7);
    const { labels, count } = clusterDescriptors(descriptors, { threshold: 0.2 });
    const agreement = pairwiseAgreement(labels, truth);
    expect(agreement.precision).toBe(1);
    expect(agreement.recall).toBeGreaterThan(0.99);
    expect(count).toBeLessThan(descriptors.length / 5);
  }, 60_000);

  it('refuses a bad threshold or neighbour count', () => {
    expect(() => clusterDescriptors([], { threshold: -1 })).toThrow(/threshold/);
    expect(() => clusterDescriptors([], { neighbours: 0 })).toThrow(/neighbours/);
    expect(clusterDescriptors([]).count).toBe(0);
  });
});

describe('stableIds', () => {
  it('keeps the ids of unchanged clusters, whatever their numbers now', () => {
    // faces 0-2 were person 10, 3-4 person 11; now clustered as 1 and 0.
    const r = stableIds([1, 1, 1, 0, 0], 2, [10, 10, 10, 11, 11]);
    expect(r.ids).toEqual([11, 10]);
    expect(r.retired).toEqual([]);
  });

  it('a merge keeps the larger old id; a split gives the smaller part a new id; new faces join', () => {
    const merged = stableIds([0, 0, 0, 0, 0], 1, [10, 10, 10, 11, 11]);
    expect(merged.ids).toEqual([10]);
    expect(merged.retired).toEqual([11]);
    expect(merged.mergedInto.get(11)).toBe(10);

    const split = stableIds([0, 0, 0, 1, 1, 2], 3, [10, 10, 10, 10, 10, undefined]);
    expect(split.ids).toEqual([10, undefined, undefined]);
    expect(split.retired).toEqual([]);
  });

  it('breaks an overlap tie toward the older (lower) id', () => {
    expect(stableIds([0, 0, 0, 0], 1, [12, 12, 11, 11]).ids).toEqual([11]);
  });
});

describe('pairwiseAgreement', () => {
  it('counts pairs: one wrong merge lowers precision, one split lowers recall', () => {
    expect(pairwiseAgreement([0, 0, 0, 0], ['a', 'a', 'b', 'b'])).toMatchObject({
      precision: 2 / 6,
      recall: 1,
    });
    expect(pairwiseAgreement([0, 0, 1, 2], ['a', 'a', 'b', 'b'])).toMatchObject({
      precision: 1,
      recall: 0.5,
    });
  });
});
