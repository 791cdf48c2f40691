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
  const cosface =
    options.loss === 'cosface'
      ? new CosFaceLoss(classes, options.dims, options.scale, options.margin, random)
      : null;
  const n = train.labels.length;
  const history: EpochReport[] = [];
  let best = { precision: -1, epoch: 0, weights: snapshot(model) };
  let t = 0;
  const steps = options.epochs * Math.ceil(n / options.batchSize);
  for (let epoch = 1; epoch <= options.epochs; epoch++) {
    const started = performance.now();
    const batches =
      options.loss === 'triplet'
        ? balancedBatches(
            train.labels,
            classes,
            classes,
            Math.max(2, Math.floor(options.batchSize / classes)),
            random,
          )
        : chunks(shuffled(range(n), random), options.batchSize);
    let lossSum = 0;
    for (const batch of batches) {
      const m = batch.length;
      const x = new Float32Array(m * inDims);
      const y = new Int32Array(m);
      for (let i = 0; i < m; i++) {
        x.set(train.features.subarray(batch[i]! * inDims, (batch[i]! + 1) * inDims), i * inDims);
        y[i] = train.labels[batch[i]!]!;
      }
      const pass = await model.forward(x, m);
      const { loss, grad } = cosface
        ? cosface.compute(pass.embeddings, y, m)
        : semiHardTripletLoss(pass.embeddings, y, m, options.dims, options.margin);
      lossSum += loss;
      await model.backward(pass, grad);
      // Cosine decay of the learning rate to zero over the run.
      const lr = options.learningRate * 0.5 * (1 + Math.cos((Math.PI * t) / steps));
      const step = { lr, weightDecay: options.weightDecay, t: ++t };
      model.step(step);
      cosface?.step(step);
    }
    const monitorPrecision = precisionAtK(
      await model.embed(monitor.features, monitor.labels.length),
      monitor.labels,
      options.dims,
    );
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
      best = { precision: monitorPrecision, epoch, weights: snapshot(model) };
  }
  restore(model, best.weights);
  return { model, bestEpoch: best.epoch, history };
}

function snapshot(model: HeadModel): Float32Array[] {
  return model.layers.flatMap((l) => [Float32Array.from(l.weight), Float32Array.from(l.bias)]);
}

function restore(model: HeadModel, weights: Float32Array[]): void {
  model.layers.forEach((l, i) => {
    l.weight.set(weights[2 * i]!);
    l.bias.set(weights[2 * i + 1]!);
  });
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function chunks(order: number[], size: number): Int32Array[] {
  const out: Int32Array[] = [];
  for (let s = 0; s < order.length; s += size) out.push(Int32Array.from(order.slice(s, s + size)));
  return out;
}
