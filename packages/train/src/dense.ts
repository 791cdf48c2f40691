import type { Random } from '@fever/eval';
import type { Gemm } from './gemm.ts';

/** Adam state of one parameter tensor. */
class AdamSlot {
  readonly m: Float32Array;
  readonly v: Float32Array;
  constructor(size: number) {
    this.m = new Float32Array(size);
    this.v = new Float32Array(size);
  }
}

export interface AdamStep {
  lr: number;
  /** Decoupled weight decay (AdamW), per step, applied to weights but not to biases. */
  weightDecay: number;
  /** 1-based step count, for the bias correction. */
  t: number;
}

const BETA1 = 0.9;
const BETA2 = 0.999;
const EPS = 1e-8;

/** AdamW on one parameter tensor: `param -= lr · (m̂ / (√v̂ + ε) + wd · param)`. */
export function adamUpdate(
  param: Float32Array,
  grad: Float32Array,
  slot: { m: Float32Array; v: Float32Array },
  step: AdamStep,
  decay: boolean,
): void {
  const c1 = 1 - BETA1 ** step.t;
  const c2 = 1 - BETA2 ** step.t;
  const wd = decay ? step.weightDecay : 0;
  const { m, v } = slot;
  for (let i = 0; i < param.length; i++) {
    const g = grad[i]!;
    m[i] = BETA1 * m[i]! + (1 - BETA1) * g;
    v[i] = BETA2 * v[i]! + (1 - BETA2) * g * g;
    param[i] = param[i]! - step.lr * (m[i]! / c1 / (Math.sqrt(v[i]! / c2) + EPS) + wd * param[i]!);
  }
}

/**
 * A fully connected layer, y = x · W + b with W stored [in, out] row-major (the layout ONNX Gemm
 * takes without a transpose). The products run on onnxruntime (see Gemm).
 */
export class Dense {
  readonly weight: Float32Array;
  readonly bias: Float32Array;
  private gradWeight: Float32Array;
  private readonly gradBias: Float32Array;
  private readonly adamWeight: AdamSlot;
  private readonly adamBias: AdamSlot;

  constructor(
    readonly inputs: number,
    readonly outputs: number,
    /** A seeded source for a fresh layer, or the weights to start from (a pretrained layer). */
    init: Random | { weight: Float32Array; bias: Float32Array },
  ) {
    this.weight = new Float32Array(inputs * outputs);
    this.bias = new Float32Array(outputs);
    if ('weight' in init) {
      if (init.weight.length !== this.weight.length || init.bias.length !== outputs) {
        throw new Error(`Dense ${inputs}→${outputs}: initial weights have the wrong size`);
      }
      this.weight.set(init.weight);
      this.bias.set(init.bias);
    } else {
      // He initialisation (uniform), suited to the ReLU that follows hidden layers.
      const limit = Math.sqrt(6 / inputs);
      for (let i = 0; i < this.weight.length; i++) this.weight[i] = (init.float() * 2 - 1) * limit;
    }
    this.gradWeight = new Float32Array(this.weight.length);
    this.gradBias = new Float32Array(outputs);
    this.adamWeight = new AdamSlot(this.weight.length);
    this.adamBias = new AdamSlot(outputs);
  }

  /** dLoss/dW of the last backward pass. */
  get weightGradient(): Float32Array {
    return this.gradWeight;
  }

  /** dLoss/db of the last backward pass. */
  get biasGradient(): Float32Array {
    return this.gradBias;
  }

  /** y[n, out] = x[n, in] · W + b */
  async forward(gemm: Gemm, x: Float32Array, n: number): Promise<Float32Array> {
    const y = await gemm.product(x, [n, this.inputs], this.weight, [this.inputs, this.outputs]);
    const { outputs: dout, bias } = this;
    for (let i = 0; i < n; i++) for (let j = 0; j < dout; j++) y[i * dout + j] = y[i * dout + j]! + bias[j]!;
    return y;
  }

  /** Sets dW = xᵀ · dy and db = Σ dy; returns dx = dy · Wᵀ unless `needInputGrad` is false. */
  async backward(
    gemm: Gemm,
    x: Float32Array,
    dy: Float32Array,
    n: number,
    needInputGrad = true,
  ): Promise<Float32Array | null> {
    const { inputs: din, outputs: dout, gradBias } = this;
    this.gradWeight = await gemm.product(x, [n, din], dy, [n, dout], { transA: true });
    gradBias.fill(0);
    for (let i = 0; i < n; i++) for (let j = 0; j < dout; j++) gradBias[j] = gradBias[j]! + dy[i * dout + j]!;
    if (!needInputGrad) return null;
    return gemm.product(dy, [n, dout], this.weight, [din, dout], { transB: true });
  }

  step(step: AdamStep): void {
    adamUpdate(this.weight, this.gradWeight, this.adamWeight, step, true);
    adamUpdate(this.bias, this.gradBias, this.adamBias, step, false);
  }
}
