import type { HeadInput } from '@fever/encoder';
import { Random } from '@fever/eval';
import type { Gemm } from './gemm.ts';
import { HeadModel } from './head-model.ts';
import { balancedBatches, CosFaceLoss, semiHardTripletLoss, shuffled } from './losses.ts';
import { precisionAtK } from './monitor.ts';

export type HeadLoss = 'cosface' | 'triplet';

export interface TrainOptions {
  input: HeadInput;
  loss: HeadLoss;
  /** Hidden layer widths; [] for a linear projection. */
  hidden: number[];
  /** Embedding dimensions. */
  dims: number;
  epochs: number;
  /** Faces per step (triplet: rounded to whole labels × faces per label). */
  batchSize: number;
  learningRate: number;
  weightDecay: number;
  seed: number;
  /** CosFace scale s and margin m; triplet margin. */
  scale: number;
  margin: number;
  /**
   * Fine-tune this last dense block jointly with the head (its input maps are extracted once);
   * null keeps the whole trunk frozen.
   */
  fineTune: 'dense3' | null;
  /** AdamW learning rate of the fine-tuned block (cosine decay like the head's). */
  trunkLearningRate: number;
  /** With `fineTune`: each training face is seen mirrored half the time, at random per epoch. */
  mirror: boolean;
}

export const DEFAULT_TRAIN_OPTIONS: TrainOptions = {
  input: 'grid',
  loss: 'cosface',
  hidden: [1024],
  dims: 64,
  epochs: 12,
  batchSize: 256,
  learningRate: 1e-3,
  weightDecay: 1e-3,
  seed: 1,
  scale: 16,
  margin: 0.2,
  fineTune: null,
  trunkLearningRate: 1e-4,
  mirror: true,
};

export interface LabelledFeatures {
  features: Float32Array;
  /** Label index per row. */
  labels: Int32Array;
}

export interface EpochReport {
  epoch: number;
  epochs: number;
  loss: number;
  /** precision@10 on the monitor set (held out of the training rows, not the validation split). */
  monitorPrecision: number;
  ms: number;
}

export interface TrainedHead {
  model: HeadModel;
  /** The epoch whose weights were kept (best monitor precision@10). */
  bestEpoch: number;
  history: EpochReport[];
}

/** What the training loop trains: a batch of training rows in, unit embeddings out, and back. */
export interface EmbeddingLearner {
  readonly dims: number;
  forward(
    batch: Int32Array,
  ): Promise<{ embeddings: Float32Array; backward: (grad: Float32Array) => Promise<void> }>;
  /** One AdamW step at `decay` × the learner's base learning rates (the schedule's factor). */
  step(decay: number, t: number): void;
  /** Embeddings of the monitor rows (no augmentation). */
  embedMonitor(): Promise<Float32Array>;
  snapshot(): Float32Array[];
  restore(weights: Float32Array[]): void;
}

/**
 * Trains a head on trunk features. Deterministic for a seed: one thread, seeded initialisation
 * and batch order. Keeps the weights of the epoch with the best monitor precision@10.
 */
export async function trainHead(
  gemm: Gemm,
  train: LabelledFeatures,
  monitor: LabelledFeatures,
  classes: number,
  options: TrainOptions,
  onEpoch: (report: EpochReport) => void = () => {},
): Promise<TrainedHead> {
  const inDims = train.features.length / train.labels.length;
  const random = new Random(`${options.seed}:head`);
  const model = new HeadModel(gemm, options.input, [inDims, ...options.hidden, options.dims], random);
  const learner: EmbeddingLearner = {
    dims: options.dims,
    async forward(batch) {
      const m = batch.length;
      const x = new Float32Array(m * inDims);
      for (let i = 0; i < m; i++) {
        x.set(train.features.subarray(batch[i]! * inDims, (batch[i]! + 1) * inDims), i * inDims);
      }
      const pass = await model.forward(x, m);
      return {
        embeddings: pass.embeddings,
        backward: async (grad) => {
          await model.backward(pass, grad);
        },
      };
    },
    step: (decay, t) => model.step({ lr: options.learningRate * decay, weightDecay: options.weightDecay, t }),
    embedMonitor: () => model.embed(monitor.features, monitor.labels.length),
    snapshot: () => snapshotHead(model),
    restore: (weights) => restoreHead(model, weights),
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

/**
 * The loop every learner shares: CosFace or semi-hard triplet batches, AdamW with cosine decay
 * to zero, the monitor's precision@10 after each epoch, and the best epoch's weights kept.
 * `random` continues the learner's own seeded sequence (initialisation, then batches).
 */
export async function trainEmbedding(
  learner: EmbeddingLearner,
  labels: Int32Array,
  monitorLabels: Int32Array,
  classes: number,
  options: TrainOptions,
  random: Random,
  onEpoch: (report: EpochReport) => void = () => {},
): Promise<{ bestEpoch: number; history: EpochReport[] }> {
  const cosface =
    options.loss === 'cosface'
      ? new CosFaceLoss(classes, options.dims, options.scale, options.margin, random)
      : null;
  const n = labels.length;
  const history: EpochReport[] = [];
  let best = { precision: -1, epoch: 0, weights: learner.snapshot() };
  let t = 0;
  const steps = options.epochs * Math.ceil(n / options.batchSize);
  for (let epoch = 1; epoch <= options.epochs; epoch++) {
    const started = performance.now();
    const batches =
      options.loss === 'triplet'
        ? balancedBatches(
            labels,
            classes,
            classes,
            Math.max(2, Math.floor(options.batchSize / classes)),
            random,
          )
        : chunks(shuffled(range(n), random), options.batchSize);
    let lossSum = 0;
    for (const batch of batches) {
      const m = batch.length;
      const y = new Int32Array(m);
      for (let i = 0; i < m; i++) y[i] = labels[batch[i]!]!;
      const pass = await learner.forward(batch);
      const { loss, grad } = cosface
        ? cosface.compute(pass.embeddings, y, m)
        : semiHardTripletLoss(pass.embeddings, y, m, options.dims, options.margin);
      lossSum += loss;
      await pass.backward(grad);
      // Cosine decay of the learning rate to zero over the run.
      const decay = 0.5 * (1 + Math.cos((Math.PI * t) / steps));
      t++;
      learner.step(decay, t);
      cosface?.step({ lr: options.learningRate * decay, weightDecay: options.weightDecay, t });
    }
    const monitorPrecision = precisionAtK(await learner.embedMonitor(), monitorLabels, options.dims);
    const report = {
      epoch,
      epochs: options.epochs,
      loss: lossSum / batches.length,
      monitorPrecision,
      ms: performance.now() - started,
    };
    history.push(report);
    onEpoch(report);
    if (monitorPrecision > best.precision)
      best = { precision: monitorPrecision, epoch, weights: learner.snapshot() };
  }
  learner.restore(best.weights);
  return { bestEpoch: best.epoch, history };
}

export function snapshotHead(model: HeadModel): Float32Array[] {
  return model.layers.flatMap((l) => [Float32Array.from(l.weight), Float32Array.from(l.bias)]);
}

export function restoreHead(model: HeadModel, weights: Float32Array[]): void {
  model.layers.forEach((l, i) => {
    l.weight.set(weights[2 * i]!);
    l.bias.set(weights[2 * i + 1]!);
  });
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

export function chunks(order: number[], size: number): Int32Array[] {
  const out: Int32Array[] = [];
  for (let s = 0; s < order.length; s += size) out.push(Int32Array.from(order.slice(s, s + size)));
  return out;
}
