import type { ExpressionHead, HeadInput } from '@fever/encoder';
import type { Random } from '@fever/eval';
import { type AdamStep, Dense } from './dense.ts';
import type { Gemm } from './gemm.ts';

/** What a forward pass keeps for the backward pass. */
export interface ForwardPass {
  /** Input of each layer (the batch itself, then each hidden activation after ReLU). */
  inputs: Float32Array[];
  /** Pre-normalisation output and its row norms. */
  raw: Float32Array;
  norms: Float32Array;
  /** L2-normalised embeddings [n, dims]. */
  embeddings: Float32Array;
  n: number;
}

/**
 * The learned head: Dense → ReLU → … → Dense, then L2 normalisation, over L2-normalised trunk
 * features. Its graph twin is `expressionWithHeadGraph` in @fever/encoder.
 */
export class HeadModel {
  readonly layers: Dense[];

  constructor(
    private readonly gemm: Gemm,
    readonly input: HeadInput,
    widths: number[],
    random: Random,
  ) {
    this.layers = [];
    for (let i = 1; i < widths.length; i++) this.layers.push(new Dense(widths[i - 1]!, widths[i]!, random));
  }

  get dims(): number {
    return this.layers.at(-1)!.outputs;
  }

  async forward(x: Float32Array, n: number): Promise<ForwardPass> {
    const inputs: Float32Array[] = [];
    let h = x;
    for (const [i, layer] of this.layers.entries()) {
      inputs.push(h);
      h = await layer.forward(this.gemm, h, n);
      if (i < this.layers.length - 1) for (let k = 0; k < h.length; k++) if (h[k]! < 0) h[k] = 0;
    }
    const d = this.dims;
    const norms = new Float32Array(n);
    const embeddings = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += h[i * d + j]! ** 2;
      const norm = Math.sqrt(s) || 1;
      norms[i] = norm;
      for (let j = 0; j < d; j++) embeddings[i * d + j] = h[i * d + j]! / norm;
    }
    return { inputs, raw: h, norms, embeddings, n };
  }

  /** Embeddings only, in chunks (no activations kept). */
  async embed(x: Float32Array, n: number, chunk = 4096): Promise<Float32Array> {
    const inDims = this.layers[0]!.inputs;
    const out = new Float32Array(n * this.dims);
    for (let s = 0; s < n; s += chunk) {
      const m = Math.min(chunk, n - s);
      out.set((await this.forward(x.subarray(s * inDims, (s + m) * inDims), m)).embeddings, s * this.dims);
    }
    return out;
  }

  /**
   * Back-propagates dLoss/dEmbeddings through the normalisation and every layer; returns
   * dLoss/dInput when `needInputGrad` (a fine-tuned trunk block below the head), else null.
   */
  async backward(
    pass: ForwardPass,
    gradEmbeddings: Float32Array,
    needInputGrad = false,
  ): Promise<Float32Array | null> {
    const { n, embeddings, norms } = pass;
    const d = this.dims;
    // e = z / |z|  ⇒  dz = (de − e·(e·de)) / |z|
    let grad: Float32Array = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += embeddings[i * d + j]! * gradEmbeddings[i * d + j]!;
      for (let j = 0; j < d; j++) {
        grad[i * d + j] = (gradEmbeddings[i * d + j]! - embeddings[i * d + j]! * dot) / norms[i]!;
      }
    }
    for (let l = this.layers.length - 1; l >= 0; l--) {
      const input = pass.inputs[l]!;
      const dx = await this.layers[l]!.backward(this.gemm, input, grad, n, l > 0 || needInputGrad);
      if (l === 0) return dx;
      // Through the ReLU that produced this layer's input: zero where it was clipped.
      for (let k = 0; k < dx!.length; k++) if (input[k] === 0) dx![k] = 0;
      grad = dx!;
    }
    return null;
  }

  step(step: AdamStep): void {
    for (const layer of this.layers) layer.step(step);
  }

  /** The head in the form the encoder composes into an ONNX graph. */
  toExpressionHead(): ExpressionHead {
    return {
      input: this.input,
      layers: this.layers.map((layer, i) => ({
        weight: layer.weight,
        bias: layer.bias,
        inputs: layer.inputs,
        outputs: layer.outputs,
        activation: i < this.layers.length - 1 ? 'relu' : 'none',
      })),
    };
  }
}
