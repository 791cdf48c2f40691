import type { ExpressionManifest } from './composite.ts';
import { mirroredCrop, rotatedCrop } from './crop-transforms.ts';
import type { Box } from './detector.ts';
import type { EmbeddingHead } from './embedding-head.ts';
import { FaceBoxError } from './errors.ts';
import type { FaceNetwork } from './face-network.ts';
import { eyeLineAngle, type LandmarkModel } from './landmarks.ts';
import type { FaceCrop, PixelRect } from './preprocess.ts';
import type { ExecutionProvider } from './session.ts';

export interface ExpressionResult {
  /** L2-normalised embedding. */
  embedding: Float32Array;
  /** Class probabilities in manifest label order, or null for a model without a classifier. */
  probs: Float32Array | null;
  /** The most probable label, or null for a model without a classifier. */
  label: string | null;
}

/**
 * The pixel region face-api crops for a box: clipped to the image, then x, y, width and height
 * each floored (Box.clipAtImageBorders). Throws when nothing of the box lies inside the image.
 */
export function cropRegion(box: Box, image: { width: number; height: number }): PixelRect {
  const values = [box.x, box.y, box.width, box.height];
  if (!values.every(Number.isFinite))
    throw new FaceBoxError('FACE_BOX_INVALID', `face box ${JSON.stringify(box)} is not finite`);
  const x = Math.max(box.x, 0);
  const y = Math.max(box.y, 0);
  const region = {
    x: Math.floor(x),
    y: Math.floor(y),
    width: Math.floor(Math.min(box.x + box.width - x, image.width - x)),
    height: Math.floor(Math.min(box.y + box.height - y, image.height - y)),
  };
  if (region.width <= 0 || region.height <= 0) {
    throw new FaceBoxError(
      'FACE_BOX_EMPTY',
      `face box ${JSON.stringify(box)} has no pixels inside the ${image.width}×${image.height} image`,
    );
  }
  return region;
}

export function l2Normalize(v: Float32Array): Float32Array {
  let sum = 0;
  for (const x of v) sum += x * x;
  const norm = Math.sqrt(sum);
  const out = new Float32Array(v.length);
  if (norm > 0) for (let i = 0; i < v.length; i++) out[i] = v[i]! / norm;
  return out;
}

/**
 * An expression model on onnxruntime: one network (the default face-api net, a user's model) or a
 * composite of member networks (see composite.ts), with optional eye alignment and mirroring.
 */
export class ExpressionModel {
  constructor(
    readonly manifest: ExpressionManifest,
    private readonly members: { network: FaceNetwork; weight: number }[],
    private readonly probsFrom: number | null,
    private readonly landmarks: LandmarkModel | null,
    private readonly mirror: boolean,
    private readonly head: EmbeddingHead | null = null,
  ) {}

  get dims(): number {
    return this.manifest.embeddingDims ?? 0;
  }

  get provider(): ExecutionProvider {
    return this.members[0]!.network.provider;
  }

  async close(): Promise<void> {
    await Promise.all([
      ...this.members.map((m) => m.network.close()),
      this.landmarks?.close(),
      this.head?.close(),
    ]);
  }

  /** Embeds face crops: every member runs over all of them in batches, then the parts are fused. */
  async embed(crops: FaceCrop[]): Promise<ExpressionResult[]> {
    let faces = crops;
    if (this.landmarks) {
      const points = await this.landmarks.locate(crops);
      faces = crops.map((crop, i) => rotatedCrop(crop, eyeLineAngle(points[i]!)));
    }
    const n = faces.length;
    const views = this.mirror ? [...faces, ...faces.map(mirroredCrop)] : faces;
    const total = this.members.reduce((sum, m) => sum + m.weight, 0);
    const parts: Float32Array[][] = [];
    let probs: Float32Array[] | null = null;
    let labels: string[] = [];
    for (const [k, { network, weight }] of this.members.entries()) {
      const { embedding, probs: probsName } = network.manifest.outputs;
      const withProbs = k === this.probsFrom;
      const rows = await network.run(views, withProbs ? [embedding!, probsName!] : [embedding!]);
      const scale = this.members.length === 1 ? 1 : Math.sqrt(weight / total);
      parts.push(
        faces.map((_, i) => {
          const raw = rows[i]![0]!;
          network.checkDims(raw);
          const unit = l2Normalize(this.mirror ? mean(raw, rows[i + n]![0]!) : raw);
          if (scale !== 1) for (let d = 0; d < unit.length; d++) unit[d] = unit[d]! * scale;
          return unit;
        }),
      );
      if (withProbs) {
        probs = faces.map((_, i) => rows[i]![1]!);
        labels = network.manifest.labels ?? [];
      }
    }
    let fused = faces.map((_, i) => (parts.length === 1 ? parts[0]![i]! : concat(parts.map((p) => p[i]!))));
    if (this.head) fused = (await this.head.apply(fused)).map(l2Normalize);
    return faces.map((_, i) => {
      const embedding = fused[i]!;
      const p = probs?.[i];
      if (!p) return { embedding, probs: null, label: null };
      let best = 0;
      for (let k = 1; k < p.length; k++) if (p[k]! > p[best]!) best = k;
      return { embedding, probs: p, label: labels[best] ?? null };
    });
  }
}

function mean(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i]! + b[i]!) / 2;
  return out;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
