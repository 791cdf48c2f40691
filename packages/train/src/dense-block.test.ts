import type { TrunkTensor } from '@fever/encoder';
import { Random } from '@fever/eval';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  gridPool,
  gridPoolBackward,
  normalizeRows,
  normalizeRowsBackward,
  TrainableDenseBlock,
} from './dense-block.ts';
import { depthwiseBackward, depthwiseForward } from './depthwise.ts';
import { Gemm } from './gemm.ts';
import { HeadModel } from './head-model.ts';
import { CosFaceLoss } from './losses.ts';
import { TunedModel } from './tuned-model.ts';

// The fine-tuned block's backward pass (depthwise and pointwise convolutions, ReLUs, the dense
// connections), the grid pooling and the normalisation, checked against central finite
// differences of the CosFace loss for every block parameter. Tiny shapes: a 10×10×3 input map,
// 4 channels out (5×5, so the grid has 2×2 cells), a 16 → 6 → 4 head.
let gemm: Gemm;
beforeAll(async () => {
  gemm = await Gemm.create(1);
});
afterAll(() => gemm.close());

const N = 6;
const SIDE = 10;
const CIN = 3;
const COUT = 4;
const CLASSES = 3;

function blockTensors(random: Random): TrunkTensor[] {
  const tensor = (name: string, shape: number[], scale: number, offset = 0): TrunkTensor => ({
    name: `dense3/${name}`,
    shape,
    data: Float32Array.from(
      { length: shape.reduce((a, b) => a * b, 1) },
      () => (random.float() * 2 - 1) * scale + offset,
    ),
  });
  return [0, 1, 2, 3].flatMap((k) => {
    const cin = k === 0 ? CIN : COUT;
    return [
      tensor(`conv${k}/depthwise_filter`, [3, 3, cin, 1], 0.6),
      tensor(`conv${k}/pointwise_filter`, [1, 1, cin, COUT], 0.6),
      // Positive biases keep most ReLUs open, so few finite differences straddle a kink.
      tensor(`conv${k}/bias`, [COUT], 0.1, 0.15),
    ];
  });
}

async function setUp(random = new Random(11)) {
  const block = new TrainableDenseBlock(gemm, 'dense3', blockTensors(random), { inSide: SIDE });
  const head = new HeadModel(gemm, 'grid', [block.gridWidth, 6, 4], random);
  const model = new TunedModel(block, head);
  const x = Float32Array.from({ length: N * SIDE * SIDE * CIN }, () => random.float());
  const labels = Int32Array.from({ length: N }, (_, i) => i % CLASSES);
  const loss = new CosFaceLoss(CLASSES, 4, 8, 0.2, random);
  const lossOf = async () => loss.compute((await model.forward(x, N)).embeddings, labels, N);
  return { block, model, x, labels, loss, lossOf };
}

/**
 * |numeric − analytic| / (2e-3 + 2% |numeric|) for every block parameter, sorted. The gradients
 * here are 0.01–0.35; float32 products put ~2e-4 of noise on a difference quotient at eps 2e-4.
 */
async function gradientRatios(setup: Awaited<ReturnType<typeof setUp>>) {
  const { block, model, x, lossOf } = setup;
  const pass = await model.forward(x, N);
  await model.backward(pass, (await lossOf()).grad);
  const analytic = new Map([...block.gradients()].map(([name, g]) => [name, Float32Array.from(g)]));
  const ratios: number[] = [];
  for (const [name, grad] of analytic) {
    const p = block.parameter(name);
    for (let k = 0; k < p.length; k++) {
      const saved = p[k]!;
      // Small enough that few ReLU kinks fall inside ±eps (at 1e-3, 7 of 211 did), large enough
      // for float32 rounding of the loss (~1e-7) to stay far below the tolerance.
      const eps = 2e-4;
      p[k] = saved + eps;
      const up = (await lossOf()).loss;
      p[k] = saved - eps;
      const down = (await lossOf()).loss;
      p[k] = saved;
      const numeric = (up - down) / (2 * eps);
      ratios.push(Math.abs(numeric - grad[k]!) / (2e-3 + 0.02 * Math.abs(numeric)));
    }
  }
  return ratios.sort((a, b) => a - b);
}

describe('fine-tuned dense block back-propagation', () => {
  it('matches finite differences for every parameter of the block', async () => {
    const ratios = await gradientRatios(await setUp());
    expect(ratios.length).toBe(4 * COUT + 9 * CIN + CIN * COUT + 3 * (9 * COUT + COUT * COUT));
    // A ReLU at its kink inside ±eps may bend a few finite differences; a wrong term misses
    // on most of the parameters it touches.
    expect(ratios.filter((r) => r > 1).length).toBeLessThanOrEqual(3);
    expect(ratios[Math.floor(ratios.length / 2)]).toBeLessThan(0.2);
  });

  it('the check catches a broken gradient (a dense connection left out)', async () => {
    const setup = await setUp();
    // Drop the skip connection's share of out1's gradient: backward then disagrees with forward.
    const original = setup.block.backward.bind(setup.block);
    setup.block.backward = async (pass, gradMap) => {
      const layers = setup.block.layers;
      const c1 = layers[1]!;
      const realBackward = c1.backward.bind(c1);
      c1.backward = async (g, x, d, dy, n, need) => {
        const dx = await realBackward(g, x, d, dy, n, need);
        // dOut1 then gets dOut2 added by the block; subtracting it again removes the skip path.
        if (dx) for (let i = 0; i < dx.length; i++) dx[i] = dx[i]! - dy[i]!;
        return dx;
      };
      try {
        await original(pass, gradMap);
      } finally {
        c1.backward = realBackward;
      }
    };
    const ratios = await gradientRatios(setup);
    expect(ratios.filter((r) => r > 1).length).toBeGreaterThan(20);
  });

  it('pools and normalises with gradients that match finite differences', () => {
    const random = new Random(3);
    const n = 2;
    const side = 7;
    const c = 3;
    const map = Float32Array.from({ length: n * side * side * c }, () => random.float());
    const weights = Float32Array.from({ length: n * c * 9 }, () => random.float() - 0.5);
    const f = (m: Float32Array) => {
      const { y } = normalizeRows(gridPool(m, n, side, c), n, c * 9);
      return y.reduce((s, v, i) => s + v * weights[i]!, 0);
    };
    const pooled = gridPool(map, n, side, c);
    // Cell (1, 2) of channel 1 of face 0 averages rows 2–4 and columns 4–6 of that plane (CNHW:
    // channel 1's plane of face 0 is the third of the six).
    let expected = 0;
    for (let y = 2; y <= 4; y++)
      for (let x = 4; x <= 6; x++) expected += map[(1 * n + 0) * 49 + y * side + x]!;
    expect(pooled[1 * 9 + 1 * 3 + 2]).toBeCloseTo(expected / 9, 6);
    const { y, norms } = normalizeRows(pooled, n, c * 9);
    const grad = gridPoolBackward(normalizeRowsBackward(y, norms, weights, n, c * 9), n, side, c);
    for (let k = 0; k < map.length; k += 7) {
      const saved = map[k]!;
      map[k] = saved + 1e-3;
      const up = f(map);
      map[k] = saved - 1e-3;
      const down = f(map);
      map[k] = saved;
      expect(grad[k]!).toBeCloseTo((up - down) / 2e-3, 3);
    }
  });

  it('back-propagates a stride-2 depthwise convolution to its input (the scatter path)', () => {
    const random = new Random(8);
    const n = 2;
    const side = 6;
    const c = 2;
    const x = Float32Array.from({ length: c * n * side * side }, () => random.float() - 0.5);
    const filter = Float32Array.from({ length: 9 * c }, () => random.float() - 0.5);
    const weights = Float32Array.from({ length: c * n * 9 }, () => random.float() - 0.5);
    const f = (v: Float32Array) =>
      depthwiseForward(v, n, side, c, filter, 2).reduce((s, y, i) => s + y * weights[i]!, 0);
    const dx = depthwiseBackward(x, weights, n, side, c, filter, 2, new Float32Array(9 * c), true)!;
    for (let k = 0; k < x.length; k++) {
      const saved = x[k]!;
      x[k] = saved + 1e-2;
      const up = f(x);
      x[k] = saved - 1e-2;
      const down = f(x);
      x[k] = saved;
      // Linear in x: the central difference is exact up to float32 rounding.
      expect(dx[k]!).toBeCloseTo((up - down) / 2e-2, 3);
    }
  });

  it('pads like TF SAME: a stride-2 convolution of an even side pads only after the map', () => {
    // 4×4 input, one channel, all-ones filter: output (0, 0) sums rows 0–1 × columns 0–1 (4
    // values; nothing before), output (1, 1) sums rows 2–3 × columns 2–3 (the padded row and
    // column after the map add nothing).
    const x = Float32Array.from({ length: 16 }, (_, i) => i + 1);
    const y = depthwiseForward(x, 1, 4, 1, new Float32Array(9).fill(1), 2);
    expect(Array.from(y)).toEqual([
      1 + 2 + 3 + 5 + 6 + 7 + 9 + 10 + 11,
      3 + 4 + 7 + 8 + 11 + 12,
      9 + 10 + 11 + 13 + 14 + 15,
      11 + 12 + 15 + 16,
    ]);
  });
});
