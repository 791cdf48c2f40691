import { describe, expect, it } from 'vitest';
import { TopK } from './embedded/topk.ts';
import { f16ToF32Table, f32ToF16 } from './math.ts';
import { modelAliasName, modelCollectionName } from './names.ts';
import { prng } from './testing/random.ts';

describe('f16 conversion', () => {
  it('round-trips representable values exactly and others to the nearest half', () => {
    const t = f16ToF32Table();
    for (const v of [0, 1, -1, 0.5, 65504, -2.5, 2 ** -14, 2 ** -24]) expect(t[f32ToF16(v)]).toBe(v);
    expect(t[f32ToF16(1e6)]).toBe(Number.POSITIVE_INFINITY);
    expect(Number.isNaN(t[f32ToF16(Number.NaN)]!)).toBe(true);
    const rand = prng(1);
    for (let i = 0; i < 10_000; i++) {
      const v = (rand() * 2 - 1) * 0.2; // the range of unit-vector components
      expect(Math.abs(t[f32ToF16(v)]! - v)).toBeLessThanOrEqual(2 ** -14); // half an f16 step below 0.25
    }
    expect(t[f32ToF16(1 + 2 ** -11)]).toBe(1); // a tie rounds to even
    expect(t[f32ToF16(1 + 3 * 2 ** -11)]).toBe(1 + 2 ** -9);
  });

  it('encodes known values to their IEEE 754 half bits and decodes every finite half exactly', () => {
    expect(f32ToF16(-2)).toBe(0xc000);
    expect(f32ToF16(0.1)).toBe(0x2e66);
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(2 ** -24)).toBe(0x0001);
    expect(f32ToF16(2 ** -26)).toBe(0);
    const t = f16ToF32Table();
    for (let h = 0; h < 0x7c00; h++) expect(f32ToF16(t[h]!)).toBe(h);
  });
});

describe('TopK', () => {
  it('keeps the k best of a stream, best first', () => {
    const rand = prng(2);
    const scores = Array.from({ length: 1000 }, () => rand());
    const top = new TopK(10);
    for (const [i, s] of scores.entries()) top.push(s, i);
    const expected = scores
      .map((score, slot) => ({ slot, score }))
      .sort((a, b) => b.score - a.score)
      .slice(0, 10);
    expect(top.sorted()).toEqual(expected);
  });
});

describe('model collection names', () => {
  it('encode model id and version, with one alias per model', () => {
    expect(modelCollectionName('face-api-expression', '1')).toBe('faces__face-api-expression__1');
    expect(modelAliasName('face-api-expression')).toBe('faces__face-api-expression');
    // Characters a name cannot hold are replaced, and a hash keeps distinct ids distinct.
    const a = modelCollectionName('org/model', '1.0.0');
    const b = modelCollectionName('org.model', '1.0.0');
    expect(a).toMatch(/^faces__org-model-[0-9a-f]{8}__1-0-0-[0-9a-f]{8}$/);
    expect(a).not.toBe(b);
  });
});
