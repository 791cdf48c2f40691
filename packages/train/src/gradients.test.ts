import { Random } from '@fever/eval';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gemm } from './gemm.ts';
import { HeadModel } from './head-model.ts';
import { CosFaceLoss, semiHardTripletLoss } from './losses.ts';

// Back-propagation checked against central finite differences of the loss, for every weight of
// a small head under each loss. Float32 arithmetic: tolerances are relative, and loose enough for
// rounding but far below what a wrong sign, transpose or missing term produces.
let gemm: Gemm;
beforeAll(async () => {
  gemm = await Gemm.create(1);
});
afterAll(() => gemm.close());

const N = 12;
const IN = 6;
const CLASSES = 3;

function data() {
  const random = new Random(5);
  const x = Float32Array.from({ length: N * IN }, () => random.float());
  const labels = Int32Array.from({ length: N }, (_, i) => i % CLASSES);
  return { x, labels };
}

type LossFn = (
  model: HeadModel,
  x: Float32Array,
  labels: Int32Array,
) => Promise<{ loss: number; grad: Float32Array }>;

async function checkGradients(lossOf: LossFn) {
  const { x, labels } = data();
  const model = new HeadModel(gemm, 'pooled', [IN, 5, 4], new Random(3));
  const pass = await model.forward(x, N);
  const { grad } = await lossOf(model, x, labels);
  await model.backward(pass, grad);
  const ratios: number[] = [];
  for (const layer of model.layers) {
    const analytic = Float32Array.from(layer.weightGradient);
    for (let k = 0; k < layer.weight.length; k++) {
      const saved = layer.weight[k]!;
      const eps = 1e-3;
      layer.weight[k] = saved + eps;
      const up = (await lossOf(model, x, labels)).loss;
      layer.weight[k] = saved - eps;
      const down = (await lossOf(model, x, labels)).loss;
      layer.weight[k] = saved;
      const numeric = (up - down) / (2 * eps);
      // Within 1e-3 absolute plus 2% relative (float32 sums; a ReLU kink or a change of hardest
      // negative may fall inside ±eps); the ratio is ≤ 1 when it is. A wrong term is off by 100×.
      ratios.push(Math.abs(numeric - analytic[k]!) / (1e-3 + 0.02 * Math.abs(numeric)));
    }
  }
  return ratios.sort((a, b) => a - b);
}

describe('head back-propagation', () => {
  it('matches finite differences under the CosFace loss', async () => {
    const loss = new CosFaceLoss(CLASSES, 4, 8, 0.2, new Random(9));
    const ratios = await checkGradients(async (model, x, labels) => {
      const pass = await model.forward(x, N);
      return loss.compute(pass.embeddings, labels, N);
    });
    expect(ratios.at(-1)).toBeLessThanOrEqual(1);
  });

  it('matches finite differences under the semi-hard triplet loss', async () => {
    // Mining picks negatives by distance, and a nudge of ±eps can switch one: a step in the loss
    // that no derivative describes. The triplets mined at the start are held for the check.
    let mined: Int32Array | undefined;
    const ratios = await checkGradients(async (model, x, labels) => {
      const pass = await model.forward(x, N);
      const result = semiHardTripletLoss(pass.embeddings, labels, N, 4, 0.5, mined);
      mined ??= result.triplets;
      return result;
    });
    expect(mined!.length).toBeGreaterThan(0);
    // A hinge at zero or a ReLU at its kink inside ±eps still bends a few finite differences
    // (3 of 50 weights here); a wrong gradient misses on most of them.
    expect(ratios.filter((r) => r > 1).length).toBeLessThanOrEqual(3);
    expect(ratios[Math.floor(ratios.length / 2)]).toBeLessThan(0.05);
  });
});

describe('Gemm', () => {
  it('computes op(A)·op(B) for each transpose combination like the textbook loops', async () => {
    const random = new Random(1);
    const m = 7;
    const k = 5;
    const n = 3;
    const a = Float32Array.from({ length: m * k }, () => random.float() - 0.5);
    const b = Float32Array.from({ length: k * n }, () => random.float() - 0.5);
    const expected = new Float32Array(m * n);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let t = 0; t < k; t++) s += a[i * k + t]! * b[t * n + j]!;
        expected[i * n + j] = s;
      }
    const transpose = (v: Float32Array, rows: number, cols: number) => {
      const out = new Float32Array(v.length);
      for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = v[i * cols + j]!;
      return out;
    };
    const at = transpose(a, m, k);
    const bt = transpose(b, k, n);
    const results = [
      await gemm.product(a, [m, k], b, [k, n]),
      await gemm.product(at, [k, m], b, [k, n], { transA: true }),
      await gemm.product(a, [m, k], bt, [n, k], { transB: true }),
      await gemm.product(at, [k, m], bt, [n, k], { transA: true, transB: true }),
    ];
    for (const r of results) {
      expect(r.length).toBe(m * n);
      for (let i = 0; i < r.length; i++) expect(r[i]).toBeCloseTo(expected[i]!, 5);
    }
  });
});
