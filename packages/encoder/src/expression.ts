import type { RgbImage } from './decode.ts';
import type { Box } from './detector.ts';
import { FaceBoxError } from './errors.ts';
import type { LoadedModel, ModelManifest } from './manifest.ts';
import {
  centredSquare,
  channelCount,
  inputLength,
  inputSpecOf,
  type PixelRect,
  resizeNormalizeInto,
  stretched,
} from './preprocess.ts';
import { type ExecutionProvider, ort } from './session.ts';

export interface FaceCrop {
  image: RgbImage;
  region: PixelRect;
}

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
 * The network input for face crops, cropped, resized and normalised as the manifest says: what
 * `ExpressionModel.embed` feeds the model, for callers that run a model of their own on it
 * (the trainer's truncated trunk).
 */
export function expressionInput(
  crops: readonly FaceCrop[],
  manifest: ModelManifest,
): { data: Float32Array; dims: number[] } {
  const spec = inputSpecOf(manifest);
  const per = inputLength(spec);
  const data = new Float32Array(per * crops.length);
  crops.forEach(({ image, region }, i) => {
    const canvas = manifest.input.crop === 'square-centre' ? centredSquare(region) : stretched(region);
    resizeNormalizeInto(image, region, canvas, spec, data, i * per);
  });
  const [h, w] = spec.size;
  const c = channelCount(spec);
  const dims = spec.layout === 'NCHW' ? [crops.length, c, h, w] : [crops.length, h, w, c];
  return { data, dims };
}

/** An expression model (the default face-api net or a user's manifest model) on onnxruntime. */
export class ExpressionModel {
  readonly manifest: ModelManifest;

  constructor(
    private readonly session: ort.InferenceSession,
    model: LoadedModel,
    readonly provider: ExecutionProvider,
    readonly batchSize: number,
  ) {
    this.manifest = model.manifest;
  }

  get dims(): number {
    return this.manifest.embeddingDims ?? 0;
  }

  async close(): Promise<void> {
    await this.session.release();
  }

  /**
   * Embeds face crops, running the network in batches of `batchSize`. The next batch is cropped
   * and resized in JS while onnxruntime runs the current one on its own threads.
   */
  async embed(crops: FaceCrop[]): Promise<ExpressionResult[]> {
    const results: ExpressionResult[] = [];
    let running: Promise<ExpressionResult[]> | null = null;
    for (let start = 0; start < crops.length; start += this.batchSize) {
      const batch = crops.slice(start, start + this.batchSize);
      const input = this.prepare(batch);
      if (running) results.push(...(await running));
      running = this.run(input, batch.length);
    }
    if (running) results.push(...(await running));
    return results;
  }

  private prepare(crops: FaceCrop[]): ort.Tensor {
    const { data, dims } = expressionInput(crops, this.manifest);
    return new ort.Tensor('float32', data, dims);
  }

  private async run(input: ort.Tensor, count: number): Promise<ExpressionResult[]> {
    const { embedding: embeddingName, probs: probsName } = this.manifest.outputs;
    const fetches = [embeddingName!, ...(probsName ? [probsName] : [])];
    const out = await this.session.run({ [this.manifest.input.name]: input }, fetches);
    const embeddings = out[embeddingName!]!.data as Float32Array;
    const probs = probsName ? (out[probsName]!.data as Float32Array) : undefined;
    const dims = embeddings.length / count;
    const labels = this.manifest.labels ?? [];
    const results = Array.from({ length: count }, (_, i) => {
      const embedding = l2Normalize(embeddings.subarray(i * dims, (i + 1) * dims));
      if (!probs) return { embedding, probs: null, label: null };
      const p = probs.slice(i * labels.length, (i + 1) * labels.length);
      let best = 0;
      for (let k = 1; k < p.length; k++) if (p[k]! > p[best]!) best = k;
      return { embedding, probs: p, label: labels[best] ?? null };
    });
    input.dispose();
    for (const t of Object.values(out)) t.dispose();
    return results;
  }
}
