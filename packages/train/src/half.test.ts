import { describe, expect, it } from 'vitest';
import { decodeHalfInto, encodeHalf, HALF_TO_FLOAT, toHalf } from './half.ts';

describe('float16', () => {
  it('encodes known values to their IEEE 754 half bits', () => {
    expect(toHalf(1)).toBe(0x3c00);
    expect(toHalf(-2)).toBe(0xc000);
    expect(toHalf(0.1)).toBe(0x2e66);
    expect(toHalf(65504)).toBe(0x7bff);
    expect(toHalf(1e6)).toBe(0x7c00);
    expect(toHalf(2 ** -24)).toBe(0x0001);
    expect(toHalf(2 ** -26)).toBe(0);
    expect(toHalf(0)).toBe(0);
    // Ties go to the even mantissa: 1 + 2⁻¹¹ lies halfway between 1 and 1 + 2⁻¹⁰.
    expect(toHalf(1 + 2 ** -11)).toBe(0x3c00);
    expect(toHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
  });

  it('decodes every half exactly and round-trips within half an ulp', () => {
    for (let h = 0; h < 0x7c00; h++) expect(toHalf(HALF_TO_FLOAT[h]!)).toBe(h);
    const values = Float32Array.from({ length: 2000 }, (_, i) => Math.sin(i) * 10 ** ((i % 9) - 4));
    const back = new Float32Array(values.length);
    decodeHalfInto(encodeHalf(values), back);
    values.forEach((v, i) => {
      const tolerance = Math.abs(v) >= 2 ** -14 ? Math.abs(v) * 2 ** -11 : 2 ** -25;
      expect(Math.abs(back[i]! - v)).toBeLessThanOrEqual(tolerance);
    });
  });
});
