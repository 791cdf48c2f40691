import { describe, expect, it } from 'vitest';
import { decodeHalfInto, encodeHalf } from './half.ts';

describe('float16 maps', () => {
  it('round-trip within half an ulp, at an offset into the output', () => {
    const values = Float32Array.from({ length: 2000 }, (_, i) => Math.sin(i) * 10 ** ((i % 9) - 4));
    const back = new Float32Array(values.length + 3);
    decodeHalfInto(encodeHalf(values), back, 3);
    values.forEach((v, i) => {
      const tolerance = Math.abs(v) >= 2 ** -14 ? Math.abs(v) * 2 ** -11 : 2 ** -25;
      expect(Math.abs(back[i + 3]! - v)).toBeLessThanOrEqual(tolerance);
    });
    expect([...back.subarray(0, 3)]).toEqual([0, 0, 0]);
  });
});
