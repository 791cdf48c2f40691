import { DENSE_BLOCK_SHAPES, type DenseBlockName, type TrunkTensor } from '@fever/encoder';
import { type AdamStep, adamUpdate } from './dense.ts';
import { depthwiseBackward, depthwiseForward, sameGeometry } from './depthwise.ts';
import type { DepthwisePool } from './depthwise-pool.ts';
import type { Gemm } from './gemm.ts';

/**
 * A trainable copy of one of face-api's separable dense blocks (dense1–dense3): the same ops as
 * `denseBlock` in @fever/encoder's networks.ts, with a backward pass.
 *
 *   out1 = relu(conv0(x))            conv0: depthwise 3×3 stride 2, then pointwise, TF SAME
 *   out2 = conv1(out1)               conv1–3: depthwise 3×3 stride 1, then pointwise, TF SAME
 *   out3 = conv2(relu(out1 + out2))
 *   out4 = conv3(relu(out1 + out2 + out3))
 *   map  = relu(out1 + out2 + out3 + out4)
 *
 * Maps are channel-major, [channels, faces, side, side] ("CNHW"): a depthwise convolution then
 * works plane by plane with its nine weights in registers (2–4× faster in JS than interleaved
 * channels), and a pointwise convolution is one matrix product, W[in, out]ᵀ · X[in, faces·side²],
 * on onnxruntime (Gemm).
 */

/** One separable convolution (tf.separableConv2d + bias) on CNHW maps. */
class SeparableLayer {
  readonly depthwise: Float32Array;
  readonly pointwise: Float32Array;
  readonly bias: Float32Array;
  readonly gradDepthwise: Float32Array;
  gradPointwise: Float32Array;
  readonly gradBias: Float32Array;
  private readonly adam: { m: Float32Array; v: Float32Array }[];
  readonly outSide: number;

  constructor(
    readonly side: number,
    readonly inChannels: number,
    readonly outChannels: number,
    readonly stride: number,
    private readonly pool: DepthwisePool | null,
    depthwise: Float32Array,
    /** tfjs [1, 1, in, out]: row-major [in, out]. */
    pointwise: Float32Array,
    bias: Float32Array,
  ) {
    if (depthwise.length !== 9 * inChannels || pointwise.length !== inChannels * outChannels) {
      throw new Error('separable convolution: filters of the wrong size');
    }
    this.depthwise = Float32Array.from(depthwise);
    this.pointwise = Float32Array.from(pointwise);
    this.bias = Float32Array.from(bias);
    this.gradDepthwise = new Float32Array(depthwise.length);
    this.gradPointwise = new Float32Array(pointwise.length);
    this.gradBias = new Float32Array(bias.length);
    this.adam = [this.depthwise, this.pointwise, this.bias].map((p) => ({
      m: new Float32Array(p.length),
      v: new Float32Array(p.length),
    }));
    this.outSide = sameGeometry(side, stride).outSide;
  }

  /** Returns the depthwise output (kept for the backward pass) and the layer output. */
  async forward(gemm: Gemm, x: Float32Array, n: number): Promise<{ d: Float32Array; y: Float32Array }> {
    const d = this.pool
      ? await this.pool.forward(x, n, this.side, this.inChannels, this.depthwise, this.stride)
      : depthwiseForward(x, n, this.side, this.inChannels, this.depthwise, this.stride);
    const cols = n * this.outSide * this.outSide;
    // Y[out, cols] = W[in, out]ᵀ · D[in, cols]
    const y = await gemm.product(
      this.pointwise,
      [this.inChannels, this.outChannels],
      d,
      [this.inChannels, cols],
      {
        transA: true,
      },
    );
    for (let co = 0; co < this.outChannels; co++) {
      const b = this.bias[co]!;
      for (let k = co * cols; k < (co + 1) * cols; k++) y[k] = y[k]! + b;
    }
    return { d, y };
  }

  async backward(
    gemm: Gemm,
    x: Float32Array,
    d: Float32Array,
    dy: Float32Array,
    n: number,
    needInputGrad: boolean,
  ): Promise<Float32Array | null> {
    const cols = n * this.outSide * this.outSide;
    const { inChannels: cin, outChannels: cout } = this;
    // dW[in, out] = D[in, cols] · dYᵀ; db = row sums of dY; dD[in, cols] = W[in, out] · dY[out, cols].
    // dW is awaited last: onnxruntime computes it on its threads while the depthwise backward
    // runs here.
    const gradPointwise = gemm.product(d, [cin, cols], dy, [cout, cols], { transB: true });
    const dd = await gemm.product(this.pointwise, [cin, cout], dy, [cout, cols]);
    for (let co = 0; co < cout; co++) {
      let s = 0;
      for (let k = co * cols; k < (co + 1) * cols; k++) s += dy[k]!;
      this.gradBias[co] = s;
    }
    this.gradDepthwise.fill(0);
    const args = [
      x,
      dd,
      n,
      this.side,
      cin,
      this.depthwise,
      this.stride,
      this.gradDepthwise,
      needInputGrad,
    ] as const;
    const dx = this.pool ? await this.pool.backward(...args) : depthwiseBackward(...args);
    this.gradPointwise = await gradPointwise;
    return dx;
  }

  step(step: AdamStep): void {
    adamUpdate(this.depthwise, this.gradDepthwise, this.adam[0]!, step, true);
    adamUpdate(this.pointwise, this.gradPointwise, this.adam[1]!, step, true);
    adamUpdate(this.bias, this.gradBias, this.adam[2]!, step, false);
  }
}

// Branch-free ReLU and its gate: half the activations are negative at random, and a branch per
// value mispredicts so often that these loops ran 4× slower with `v > 0 ? v : 0`.
const relu = (v: number) => (v + Math.abs(v)) * 0.5;
/** 1 where a ReLU output is open (> 0), else 0. */
const open = (v: number) => Number(v > 0);

/** What the forward pass keeps for the backward pass. */
export interface BlockPass {
  n: number;
  x: Float32Array;
  d0: Float32Array;
  out1: Float32Array;
  d1: Float32Array;
  in3: Float32Array;
  d2: Float32Array;
  in4: Float32Array;
  d3: Float32Array;
  /** The block's output map, CNHW [channels, n, side, side]. */
  map: Float32Array;
}

const CONVS = ['conv0', 'conv1', 'conv2', 'conv3'] as const;
const PARTS = ['depthwise_filter', 'pointwise_filter', 'bias'] as const;

export class TrainableDenseBlock {
  readonly layers: SeparableLayer[];
  readonly inSide: number;
  readonly inChannels: number;
  readonly outSide: number;
  readonly outChannels: number;
  private readonly order: string[];
  private readonly shapes: Map<string, number[]>;

  /**
   * `tensors`: the block's tensors in face-api's names and layouts (e.g. expressionBlockTensors);
   * the channels follow from them. `inSide`: the input map's side (face-api's by default; tests
   * use small ones). `pool`: a second core for the depthwise convolutions.
   */
  constructor(
    private readonly gemm: Gemm,
    readonly name: DenseBlockName,
    tensors: readonly TrunkTensor[],
    options: { inSide?: number; pool?: DepthwisePool | null } = {},
  ) {
    const inSide = options.inSide ?? DENSE_BLOCK_SHAPES[name].side * 2;
    if (name === 'dense0') throw new Error('dense0 starts with a plain convolution; fine-tune dense1–dense3');
    for (const t of tensors) {
      const [block, conv, part] = t.name.split('/');
      if (block !== name || !CONVS.includes(conv as never) || !PARTS.includes(part as never)) {
        throw new Error(`${name}: unexpected tensor ${t.name}`);
      }
    }
    const byName = new Map(tensors.map((t) => [t.name, t]));
    const get = (conv: string, part: string) => {
      const t = byName.get(`${name}/${conv}/${part}`);
      if (!t) throw new Error(`${name}: tensor ${name}/${conv}/${part} is missing`);
      return t;
    };
    this.inSide = inSide;
    this.outSide = sameGeometry(inSide, 2).outSide;
    this.inChannels = get('conv0', 'depthwise_filter').shape[2]!;
    this.outChannels = get('conv0', 'pointwise_filter').shape[3]!;
    this.layers = CONVS.map(
      (conv, k) =>
        new SeparableLayer(
          k === 0 ? this.inSide : this.outSide,
          k === 0 ? this.inChannels : this.outChannels,
          this.outChannels,
          k === 0 ? 2 : 1,
          options.pool ?? null,
          get(conv, 'depthwise_filter').data,
          get(conv, 'pointwise_filter').data,
          get(conv, 'bias').data,
        ),
    );
    this.order = tensors.map((t) => t.name);
    this.shapes = new Map(tensors.map((t) => [t.name, t.shape]));
  }

  /** Values per input map (side × side × channels). */
  get inputSize(): number {
    return this.inSide * this.inSide * this.inChannels;
  }

  /** Width of the grid features over the output map (`gridPool`). */
  get gridWidth(): number {
    const cells = Math.floor((this.outSide - 3) / 2) + 1;
    return this.outChannels * cells * cells;
  }

  /** `x`: n input maps, CNHW [inChannels, n, inSide, inSide]. */
  async forward(x: Float32Array, n: number): Promise<BlockPass> {
    const [c0, c1, c2, c3] = this.layers as [SeparableLayer, SeparableLayer, SeparableLayer, SeparableLayer];
    const g = this.gemm;
    const { d: d0, y: out1 } = await c0.forward(g, x, n);
    for (let i = 0; i < out1.length; i++) out1[i] = relu(out1[i]!);
    const { d: d1, y: out2 } = await c1.forward(g, out1, n);
    const in3 = new Float32Array(out1.length);
    for (let i = 0; i < in3.length; i++) in3[i] = relu(out1[i]! + out2[i]!);
    const { d: d2, y: out3 } = await c2.forward(g, in3, n);
    // The reference's association order: out1 + (out2 + out3), out1 + (out2 + (out3 + out4)).
    const in4 = new Float32Array(out1.length);
    for (let i = 0; i < in4.length; i++) in4[i] = relu(out1[i]! + (out2[i]! + out3[i]!));
    const { d: d3, y: out4 } = await c3.forward(g, in4, n);
    const map = out4;
    for (let i = 0; i < map.length; i++) map[i] = relu(out1[i]! + (out2[i]! + (out3[i]! + out4[i]!)));
    return { n, x, d0, out1, d1, in3, d2, in4, d3, map };
  }

  /** Back-propagates dLoss/dMap through the block; sets every tensor's gradient. */
  async backward(pass: BlockPass, gradMap: Float32Array): Promise<void> {
    const [c0, c1, c2, c3] = this.layers as [SeparableLayer, SeparableLayer, SeparableLayer, SeparableLayer];
    const g = this.gemm;
    const { n, map, in3, in4, out1 } = pass;
    const size = map.length;
    // map = relu(S), S = out1 + out2 + out3 + out4
    const dS = new Float32Array(size);
    for (let i = 0; i < size; i++) dS[i] = gradMap[i]! * open(map[i]!);
    // out4 = conv3(in4), in4 = relu(T4), T4 = out1 + out2 + out3
    const dT4 = (await c3.backward(g, in4, pass.d3, dS, n, true))!;
    for (let i = 0; i < size; i++) dT4[i] = dT4[i]! * open(in4[i]!);
    // out3 = conv2(in3), in3 = relu(T3), T3 = out1 + out2; out3 feeds S and T4
    const dOut3 = new Float32Array(size);
    for (let i = 0; i < size; i++) dOut3[i] = dS[i]! + dT4[i]!;
    const dT3 = (await c2.backward(g, in3, pass.d2, dOut3, n, true))!;
    for (let i = 0; i < size; i++) dT3[i] = dT3[i]! * open(in3[i]!);
    // out2 = conv1(out1) feeds S, T4 and T3
    const dOut2 = dOut3;
    for (let i = 0; i < size; i++) dOut2[i] = dOut2[i]! + dT3[i]!;
    const dOut1 = (await c1.backward(g, out1, pass.d1, dOut2, n, true))!;
    // out1 = relu(conv0(x)) feeds conv1, and S, T4 and T3 (the same sum as out2's)
    for (let i = 0; i < size; i++) dOut1[i] = (dOut1[i]! + dOut2[i]!) * open(out1[i]!);
    await c0.backward(g, pass.x, pass.d0, dOut1, n, false);
  }

  step(step: AdamStep): void {
    for (const layer of this.layers) layer.step(step);
  }

  /** Every parameter tensor by face-api name (live views, not copies). */
  private parameters(): Map<string, Float32Array> {
    const params = new Map<string, Float32Array>();
    this.layers.forEach((layer, k) => {
      params.set(`${this.name}/${CONVS[k]}/depthwise_filter`, layer.depthwise);
      params.set(`${this.name}/${CONVS[k]}/pointwise_filter`, layer.pointwise);
      params.set(`${this.name}/${CONVS[k]}/bias`, layer.bias);
    });
    return params;
  }

  /** Gradients of the last backward pass, by face-api name. */
  gradients(): Map<string, Float32Array> {
    const grads = new Map<string, Float32Array>();
    this.layers.forEach((layer, k) => {
      grads.set(`${this.name}/${CONVS[k]}/depthwise_filter`, layer.gradDepthwise);
      grads.set(`${this.name}/${CONVS[k]}/pointwise_filter`, layer.gradPointwise);
      grads.set(`${this.name}/${CONVS[k]}/bias`, layer.gradBias);
    });
    return grads;
  }

  /** The current weights in face-api's names, layouts and order (copies): what the model ships. */
  tensors(): TrunkTensor[] {
    const params = this.parameters();
    return this.order.map((name) => ({
      name,
      shape: [...this.shapes.get(name)!],
      data: Float32Array.from(params.get(name)!),
    }));
  }

  /** A live view of one parameter tensor, for gradient checks. */
  parameter(name: string): Float32Array {
    const p = this.parameters().get(name);
    if (!p) throw new Error(`${this.name}: no parameter ${name}`);
    return p;
  }

  snapshot(): Float32Array[] {
    return [...this.parameters().values()].map((p) => Float32Array.from(p));
  }

  restore(weights: Float32Array[]): void {
    [...this.parameters().values()].forEach((p, i) => {
      p.set(weights[i]!);
    });
  }
}

/**
 * The head's `grid` input from a CNHW map: 3×3 average pools with stride 2 (7×7 → 3×3), per face
 * in ONNX's NCHW flattening order (index = channel·cells² + row·cells + col), as the composed
 * model's AveragePool + Flatten give it.
 */
export function gridPool(map: Float32Array, n: number, side: number, channels: number): Float32Array {
  const cells = Math.floor((side - 3) / 2) + 1;
  const per = cells * cells;
  const plane = side * side;
  const out = new Float32Array(n * channels * per);
  for (let ch = 0; ch < channels; ch++)
    for (let b = 0; b < n; b++) {
      const p = (ch * n + b) * plane;
      for (let gy = 0; gy < cells; gy++)
        for (let gx = 0; gx < cells; gx++) {
          let s = 0;
          for (let ky = 0; ky < 3; ky++)
            for (let kx = 0; kx < 3; kx++) s += map[p + (2 * gy + ky) * side + 2 * gx + kx]!;
          out[(b * channels + ch) * per + gy * cells + gx] = s / 9;
        }
    }
  return out;
}

/** Backward of `gridPool`: dLoss/dMap (CNHW) from dLoss/dFeatures. */
export function gridPoolBackward(
  grad: Float32Array,
  n: number,
  side: number,
  channels: number,
): Float32Array {
  const cells = Math.floor((side - 3) / 2) + 1;
  const per = cells * cells;
  const plane = side * side;
  const out = new Float32Array(channels * n * plane);
  for (let ch = 0; ch < channels; ch++)
    for (let b = 0; b < n; b++) {
      const p = (ch * n + b) * plane;
      for (let gy = 0; gy < cells; gy++)
        for (let gx = 0; gx < cells; gx++) {
          const g = grad[(b * channels + ch) * per + gy * cells + gx]! / 9;
          for (let ky = 0; ky < 3; ky++)
            for (let kx = 0; kx < 3; kx++) {
              const at = p + (2 * gy + ky) * side + 2 * gx + kx;
              out[at] = out[at]! + g;
            }
        }
    }
  return out;
}

/** Row-wise L2 normalisation; keeps the norms for the backward pass. */
export function normalizeRows(
  x: Float32Array,
  n: number,
  d: number,
): { y: Float32Array; norms: Float32Array } {
  const y = new Float32Array(x.length);
  const norms = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += x[i * d + j]! ** 2;
    const norm = Math.sqrt(s) || 1;
    norms[i] = norm;
    for (let j = 0; j < d; j++) y[i * d + j] = x[i * d + j]! / norm;
  }
  return { y, norms };
}

/** y = x / |x|  ⇒  dx = (dy − y·(y·dy)) / |x| */
export function normalizeRowsBackward(
  y: Float32Array,
  norms: Float32Array,
  dy: Float32Array,
  n: number,
  d: number,
): Float32Array {
  const dx = new Float32Array(y.length);
  for (let i = 0; i < n; i++) {
    let dot = 0;
    for (let j = 0; j < d; j++) dot += y[i * d + j]! * dy[i * d + j]!;
    for (let j = 0; j < d; j++) dx[i * d + j] = (dy[i * d + j]! - y[i * d + j]! * dot) / norms[i]!;
  }
  return dx;
}
