import { describe, expect, it } from 'vitest';
import { bootstrapMeanCi, quantile } from './bootstrap.ts';
import { Random } from './random.ts';

describe('Random', () => {
  it('is a pure function of its seed', () => {
    const a = new Random(42);
    const b = new Random(42);
    const c = new Random(43);
    const draw = (r: Random) => Array.from({ length: 5 }, () => r.uint32());
    const first = draw(a);
    expect(draw(b)).toEqual(first);
    expect(draw(c)).not.toEqual(first);
    expect(draw(new Random('x:all'))).toEqual(draw(new Random('x:all')));
  });

  it('draws uniformly enough: 100 000 ints in [0, 10) land within 3% of 10 000 each', () => {
    const r = new Random(7);
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 100_000; i++) counts[r.int(10)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(300);
  });
});

describe('quantile', () => {
  it('interpolates like numpy.quantile (type 7)', () => {
    const sorted = [1, 2, 3, 4, 10];
    expect(quantile(sorted, 0)).toBe(1);
    expect(quantile(sorted, 1)).toBe(10);
    expect(quantile(sorted, 0.5)).toBe(3);
    expect(quantile(sorted, 0.9)).toBeCloseTo(7.6, 12); // numpy.quantile([1,2,3,4,10], 0.9) = 7.6
    expect(quantile(sorted, 0.025)).toBeCloseTo(1.1, 12);
  });
});

describe('bootstrapMeanCi', () => {
  const values = Array.from({ length: 400 }, (_, i) => (i % 10 < 7 ? 1 : 0)); // mean 0.7

  it('gives the same interval for the same seed, every time', () => {
    const a = bootstrapMeanCi(values, { samples: 1000, seed: 'run:all' });
    const b = bootstrapMeanCi(values, { samples: 1000, seed: 'run:all' });
    expect(a).toEqual(b);
    expect(bootstrapMeanCi(values, { samples: 1000, seed: 'run:strict' })).not.toEqual(a);
  });

  it('brackets the mean with about the normal-theory width', () => {
    const [lo, hi] = bootstrapMeanCi(values, { samples: 2000, seed: 3 })!;
    // Normal approximation: 0.7 ± 1.96 * sqrt(0.7 * 0.3 / 400) = 0.7 ± 0.0449.
    expect(lo).toBeGreaterThan(0.64);
    expect(lo).toBeLessThan(0.67);
    expect(hi).toBeGreaterThan(0.73);
    expect(hi).toBeLessThan(0.76);
  });

  it('is degenerate for constant values and null for none', () => {
    expect(bootstrapMeanCi([1, 1, 1], { samples: 50, seed: 1 })).toEqual([1, 1]);
    expect(bootstrapMeanCi([], { samples: 50, seed: 1 })).toBeNull();
  });
});
