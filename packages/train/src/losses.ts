import type { Random } from '@fever/eval';
import type { AdamStep } from './dense.ts';
import { adamUpdate } from './dense.ts';

export interface LossResult {
  loss: number;
  /** dLoss / dEmbeddings, [n, dims]. */
  grad: Float32Array;
}

/**
 * CosFace (large-margin cosine loss, Wang et al. 2018): softmax over s·(cos θ_c − m·[c = y]) with
 * one learned, normalised centre per class. The margin pulls a class's embeddings together and
 * apart from the others, so the normalised embedding itself ranks by expression.
 */
export class CosFaceLoss {
  readonly centres: Float32Array;
  private readonly gradCentres: Float32Array;
  private readonly adam: { m: Float32Array; v: Float32Array };

  constructor(
    readonly classes: number,
    readonly dims: number,
    readonly scale: number,
    readonly margin: number,
    random: Random,
  ) {
    this.centres = new Float32Array(classes * dims);
    for (let i = 0; i < this.centres.length; i++) this.centres[i] = random.float() * 2 - 1;
    this.gradCentres = new Float32Array(this.centres.length);
    this.adam = { m: new Float32Array(this.centres.length), v: new Float32Array(this.centres.length) };
  }

  compute(embeddings: Float32Array, labels: Int32Array, n: number): LossResult {
    const { classes: C, dims: d, scale: s, margin: m, centres } = this;
    const norms = new Float32Array(C);
    const unit = new Float32Array(C * d);
    for (let c = 0; c < C; c++) {
      let sum = 0;
      for (let j = 0; j < d; j++) sum += centres[c * d + j]! ** 2;
      norms[c] = Math.sqrt(sum) || 1;
      for (let j = 0; j < d; j++) unit[c * d + j] = centres[c * d + j]! / norms[c]!;
    }
    const grad = new Float32Array(n * d);
    const gradUnit = new Float32Array(C * d);
    const logits = new Float64Array(C);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const y = labels[i]!;
      let max = -Infinity;
      for (let c = 0; c < C; c++) {
        let cos = 0;
        for (let j = 0; j < d; j++) cos += embeddings[i * d + j]! * unit[c * d + j]!;
        logits[c] = s * (cos - (c === y ? m : 0));
        if (logits[c]! > max) max = logits[c]!;
      }
      let z = 0;
      for (let c = 0; c < C; c++) z += Math.exp(logits[c]! - max);
      loss += Math.log(z) - (logits[y]! - max);
      for (let c = 0; c < C; c++) {
        const dLogit = (Math.exp(logits[c]! - max) / z - (c === y ? 1 : 0)) / n;
        if (dLogit === 0) continue;
        for (let j = 0; j < d; j++) {
          grad[i * d + j] = grad[i * d + j]! + s * dLogit * unit[c * d + j]!;
          gradUnit[c * d + j] = gradUnit[c * d + j]! + s * dLogit * embeddings[i * d + j]!;
        }
      }
    }
    // Through the centres' normalisation: dw = (dŵ − ŵ(ŵ·dŵ)) / |w|
    for (let c = 0; c < C; c++) {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += unit[c * d + j]! * gradUnit[c * d + j]!;
      for (let j = 0; j < d; j++) {
        this.gradCentres[c * d + j] =
          this.gradCentres[c * d + j]! + (gradUnit[c * d + j]! - unit[c * d + j]! * dot) / norms[c]!;
      }
    }
    return { loss: loss / n, grad };
  }

  step(step: AdamStep): void {
    adamUpdate(this.centres, this.gradCentres, this.adam, step, false);
    this.gradCentres.fill(0);
  }
}

/**
 * Triplet loss with semi-hard negative mining (Schroff et al. 2015, FaceNet) on squared
 * euclidean distances of unit vectors (2 − 2 cos): every (anchor, positive) pair of the batch
 * against the nearest other-label face that is still farther than the positive (the farthest
 * one when none is), hinged at `margin`. Batch-hard mining (hardest positive and hardest
 * negative, Hermans et al. 2017), and hardest negatives alone, collapsed every embedding to one
 * point on FER2013 (loss stuck at the margin, validation precision@10 0.39–0.41): its nearest
 * other-label faces are largely label noise. Batches need several faces per label
 * (see `balancedBatches`).
 */
export function semiHardTripletLoss(
  embeddings: Float32Array,
  labels: Int32Array,
  n: number,
  dims: number,
  margin: number,
  /** (anchor, positive, negative) triplets to use instead of mining them: for gradient checks. */
  fixed?: Int32Array,
): LossResult & { triplets: Int32Array } {
  const d = dims;
  const dist = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = i; k < n; k++) {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += embeddings[i * d + j]! * embeddings[k * d + j]!;
      dist[i * n + k] = dist[k * n + i] = 2 - 2 * dot;
    }
  }
  const triplets = fixed ?? mineSemiHard(dist, labels, n);
  const grad = new Float32Array(n * d);
  let loss = 0;
  for (let t = 0; t < triplets.length; t += 3) {
    const [i, p, neg] = [triplets[t]!, triplets[t + 1]!, triplets[t + 2]!];
    const hinge = dist[i * n + p]! - dist[i * n + neg]! + margin;
    if (hinge <= 0) continue;
    loss += hinge;
    // d(a,b) = 2 − 2 a·b: ∂/∂a = −2b.
    for (let j = 0; j < d; j++) {
      const a = embeddings[i * d + j]!;
      grad[i * d + j] = grad[i * d + j]! - 2 * embeddings[p * d + j]! + 2 * embeddings[neg * d + j]!;
      grad[p * d + j] = grad[p * d + j]! - 2 * a;
      grad[neg * d + j] = grad[neg * d + j]! + 2 * a;
    }
  }
  const scale = triplets.length > 0 ? 3 / triplets.length : 0;
  for (let k = 0; k < grad.length; k++) grad[k] = grad[k]! * scale;
  return { loss: loss * scale, grad, triplets };
}

/** Per (anchor, positive): the nearest negative still farther than the positive, else the farthest. */
function mineSemiHard(dist: Float32Array, labels: Int32Array, n: number): Int32Array {
  const triplets: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < n; p++) {
      if (p === i || labels[p] !== labels[i]) continue;
      const dap = dist[i * n + p]!;
      let neg = -1;
      let far = -1;
      for (let k = 0; k < n; k++) {
        if (labels[k] === labels[i]) continue;
        const dak = dist[i * n + k]!;
        if (dak > dap && (neg < 0 || dak < dist[i * n + neg]!)) neg = k;
        if (far < 0 || dak > dist[i * n + far]!) far = k;
      }
      if (neg < 0) neg = far;
      if (neg >= 0) triplets.push(i, p, neg);
    }
  }
  return Int32Array.from(triplets);
}

/**
 * Batches of `perLabel` faces from each of `labelsPerBatch` labels (P×K sampling): every anchor
 * has positives and negatives in its batch. One epoch draws about as many faces as the set has.
 */
export function balancedBatches(
  labels: Int32Array,
  classes: number,
  labelsPerBatch: number,
  perLabel: number,
  random: Random,
): Int32Array[] {
  const byLabel: number[][] = Array.from({ length: classes }, () => []);
  for (const [i, l] of labels.entries()) byLabel[l]!.push(i);
  const present = byLabel.map((_, c) => c).filter((c) => byLabel[c]!.length > 0);
  const batches: Int32Array[] = [];
  const count = Math.ceil(labels.length / (labelsPerBatch * perLabel));
  for (let b = 0; b < count; b++) {
    const chosen = shuffled(present, random).slice(0, labelsPerBatch);
    const batch: number[] = [];
    for (const c of chosen) {
      const pool = byLabel[c]!;
      for (let k = 0; k < perLabel; k++) batch.push(pool[random.int(pool.length)]!);
    }
    batches.push(Int32Array.from(batch));
  }
  return batches;
}

export function shuffled<T>(items: readonly T[], random: Random): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
