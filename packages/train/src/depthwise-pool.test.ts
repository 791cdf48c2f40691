import { Random } from '@fever/eval';
import { afterAll, describe, expect, it } from 'vitest';
import { depthwiseBackward, depthwiseForward } from './depthwise.ts';
import { DepthwisePool } from './depthwise-pool.ts';

const pool = DepthwisePool.create();
afterAll(() => pool?.close());

describe.skipIf(!pool)('DepthwisePool', () => {
  it('gives bitwise the single-thread results, forward and backward, stride 1 and 2', async () => {
    const random = new Random(2);
    for (const [side, stride, channels] of [
      [14, 2, 13],
      [7, 1, 16],
    ] as const) {
      const n = 5;
      const outSide = Math.ceil(side / stride);
      const x = Float32Array.from({ length: channels * n * side * side }, () => random.float() - 0.5);
      const dy = Float32Array.from({ length: channels * n * outSide * outSide }, () => random.float() - 0.5);
      const filter = Float32Array.from({ length: 9 * channels }, () => random.float() - 0.5);
      const serial = depthwiseForward(x, n, side, channels, filter, stride);
      expect(await pool!.forward(x, n, side, channels, filter, stride)).toEqual(serial);
      for (const needInputGrad of [true, false]) {
        const gradSerial = new Float32Array(9 * channels).fill(0.25);
        const gradPool = new Float32Array(9 * channels).fill(0.25);
        const dxSerial = depthwiseBackward(
          x,
          dy,
          n,
          side,
          channels,
          filter,
          stride,
          gradSerial,
          needInputGrad,
        );
        const dxPool = await pool!.backward(
          x,
          dy,
          n,
          side,
          channels,
          filter,
          stride,
          gradPool,
          needInputGrad,
        );
        expect(gradPool).toEqual(gradSerial);
        expect(dxPool).toEqual(dxSerial);
      }
    }
  });
});
