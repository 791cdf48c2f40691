import type { ExpressionHead } from '@fever/encoder';
import { Random } from '@fever/eval';
import {
  type BlockPass,
  gridPool,
  gridPoolBackward,
  normalizeRows,
  normalizeRowsBackward,
  type TrainableDenseBlock,
} from './dense-block.ts';
import type { Gemm } from './gemm.ts';
import { decodeHalfInto } from './half.ts';
import { type ForwardPass, HeadModel } from './head-model.ts';
import {
  type EmbeddingLearner,
  type EpochReport,
  restoreHead,
  snapshotHead,
  type TrainOptions,
  trainEmbedding,
} from './train.ts';

export interface TunedPass {
  n: number;
  block: BlockPass;
  /** L2-normalised grid features (the head's input) and their norms before normalisation. */
  features: Float32Array;
  norms: Float32Array;
  head: ForwardPass;
  embeddings: Float32Array;
}

/**
 * A fine-tuned last dense block under a head: map → grid pools → L2 → head → L2, the JS twin of
 * the composed model's fine-tuned branch (`expressionWithHeadGraph` with trunk tensors).
 */
export class TunedModel {
  constructor(
    readonly block: TrainableDenseBlock,
    readonly head: HeadModel,
  ) {
    const grid = block.gridWidth;
    if (head.layers[0]!.inputs !== grid)
      throw new Error(`the head takes ${head.layers[0]!.inputs} inputs, the grid has ${grid}`);
  }

  get dims(): number {
    return this.head.dims;
  }

  /** `x`: n input maps, CNHW float32 (the previous block's output; see `gatherMaps`). */
  async forward(x: Float32Array, n: number): Promise<TunedPass> {
    const { block } = this;
    const pass = await block.forward(x, n);
    const pooled = gridPool(pass.map, n, block.outSide, block.outChannels);
    const { y: features, norms } = normalizeRows(pooled, n, block.gridWidth);
    const head = await this.head.forward(features, n);
    return { n, block: pass, features, norms, head, embeddings: head.embeddings };
  }

  async backward(pass: TunedPass, gradEmbeddings: Float32Array): Promise<void> {
    const { block } = this;
    const { n } = pass;
    const gradFeatures = (await this.head.backward(pass.head, gradEmbeddings, true))!;
    const gradPooled = normalizeRowsBackward(pass.features, pass.norms, gradFeatures, n, block.gridWidth);
    await block.backward(pass.block, gridPoolBackward(gradPooled, n, block.outSide, block.outChannels));
  }

  /** Embeddings of float16 maps, in chunks. */
  async embedMaps(maps: readonly Uint16Array[], chunk = 256): Promise<Float32Array> {
    const out = new Float32Array(maps.length * this.dims);
    for (let s = 0; s < maps.length; s += chunk) {
      const part = maps.slice(s, s + chunk);
      const pass = await this.forward(gatherMaps(part, this.block.inChannels), part.length);
      out.set(pass.embeddings, s * this.dims);
    }
    return out;
  }

  /** The block's normalised grid features of float16 maps (no head): the frozen-trunk baseline. */
  async gridFeatures(maps: readonly Uint16Array[], chunk = 256): Promise<Float32Array> {
    const width = this.block.gridWidth;
    const out = new Float32Array(maps.length * width);
    for (let s = 0; s < maps.length; s += chunk) {
      const part = maps.slice(s, s + chunk);
      const pass = await this.block.forward(gatherMaps(part, this.block.inChannels), part.length);
      const pooled = gridPool(pass.map, part.length, this.block.outSide, this.block.outChannels);
      out.set(normalizeRows(pooled, part.length, width).y, s * width);
    }
    return out;
  }

  /** The head and the fine-tuned block, in the form the encoder composes into one ONNX model. */
  toExpressionHead(): ExpressionHead {
    return { ...this.head.toExpressionHead(), trunk: this.block.tensors() };
  }
}

/** float16 maps of single faces ([channels, side, side] each) → one float32 CNHW batch. */
export function gatherMaps(maps: readonly Uint16Array[], channels: number): Float32Array {
  const n = maps.length;
  const plane = (maps[0]?.length ?? 0) / channels;
  const x = new Float32Array(n * channels * plane);
  maps.forEach((m, b) => {
    for (let ch = 0; ch < channels; ch++)
      decodeHalfInto(m.subarray(ch * plane, (ch + 1) * plane), x, (ch * n + b) * plane);
  });
  return x;
}

export interface MapTrainingSet {
  original: readonly Uint16Array[];
  /** The mirror image's map per row (flip augmentation), or null. */
  flipped: readonly (Uint16Array | null)[];
  labels: Int32Array;
}

/**
 * Trains the last dense block and a head jointly. The head starts exactly as a frozen-trunk head
 * of the same seed would (same initialisation, same batch order); each training face is seen as
 * it is or mirrored, at random per face and epoch (a separate seeded sequence).
 */
export async function trainTuned(
  gemm: Gemm,
  block: TrainableDenseBlock,
  train: MapTrainingSet,
  monitor: { original: readonly Uint16Array[]; labels: Int32Array },
  classes: number,
  options: TrainOptions,
  onEpoch: (report: EpochReport) => void = () => {},
): Promise<{ model: TunedModel; bestEpoch: number; history: EpochReport[] }> {
  const random = new Random(`${options.seed}:head`);
  const flips = new Random(`${options.seed}:flip`);
  const head = new HeadModel(gemm, 'grid', [block.gridWidth, ...options.hidden, options.dims], random);
  const model = new TunedModel(block, head);
  const learner: EmbeddingLearner = {
    dims: options.dims,
    async forward(batch) {
      const maps = Array.from(batch, (row) => {
        const mirror = train.flipped[row];
        // Draw for every face, so the sequence does not depend on which faces have mirrors.
        const useMirror = flips.float() < 0.5;
        return mirror && useMirror ? mirror : train.original[row]!;
      });
      const pass = await model.forward(gatherMaps(maps, block.inChannels), batch.length);
      return { embeddings: pass.embeddings, backward: (grad) => model.backward(pass, grad) };
    },
    step(decay, t) {
      head.step({ lr: options.learningRate * decay, weightDecay: options.weightDecay, t });
      block.step({ lr: options.trunkLearningRate * decay, weightDecay: options.weightDecay, t });
    },
    embedMonitor: () => model.embedMaps(monitor.original),
    snapshot: () => [...snapshotHead(head), ...block.snapshot()],
    restore(weights) {
      const headParts = head.layers.length * 2;
      restoreHead(head, weights.slice(0, headParts));
      block.restore(weights.slice(headParts));
    },
  };
  const trained = await trainEmbedding(
    learner,
    train.labels,
    monitor.labels,
    classes,
    options,
    random,
    onEpoch,
  );
  return { model, ...trained };
}
