import { join } from 'node:path';
import { composeHeadModel, type EncoderOptions, type TrunkFeatures } from '@fever/encoder';
import {
  EmbeddingCache,
  embedImageFaces,
  hashImages,
  type LabelledImage,
  ModelHandle,
  WHOLE_IMAGE,
} from '@fever/eval';

export interface FeatureSet {
  /** The items that have features, in input order. */
  items: LabelledImage[];
  /** [items.length, dims], each row L2-normalised. */
  features: Float32Array;
  dims: number;
  /** Images that could not be read or decoded: reported, never fatal. */
  failures: { path: string; code: string; message: string }[];
}

export interface FeatureOptions {
  input: TrunkFeatures;
  /** Where the feature model (the trunk with an empty head) is written. */
  workDir: string;
  /** Embedding cache folder; null keeps nothing. */
  cacheDir: string | null;
  encoder?: Omit<EncoderOptions, 'expressionModel'>;
  /** sha256 per file when the caller has hashed them already (hashImages); else hashed here. */
  hashes?: Awaited<ReturnType<typeof hashImages>>;
  onProgress?: (phase: 'hash' | 'features', done: number, total: number) => void;
}

/**
 * The trunk features a head learns from: the composed graph with no head layers, so training sees
 * exactly the numbers the shipped model computes in front of its head. Cached per image content,
 * so a second training run over the same set does not run the trunk again.
 */
export async function trunkFeatures(
  items: readonly LabelledImage[],
  options: FeatureOptions,
): Promise<FeatureSet> {
  const model = await composeHeadModel(
    join(options.workDir, `face-api-expression-${options.input}-features`),
    `face-api-expression-${options.input}-features`,
    { input: options.input, layers: [] },
    '0'.repeat(64),
  );
  return modelFeatures(items, model.manifestPath, options);
}

/**
 * Any expression model's embeddings (a composite's too) as the features a head learns from: what
 * that model gives the composed head at run time. Cached per image content like trunkFeatures.
 */
export async function modelFeatures(
  items: readonly LabelledImage[],
  manifestPath: string,
  options: Omit<FeatureOptions, 'input' | 'workDir'>,
): Promise<FeatureSet> {
  const handle = await ModelHandle.load(manifestPath, options.encoder ?? {});
  try {
    const progress = options.onProgress ?? (() => {});
    const hashes =
      options.hashes ??
      (await hashImages(
        items.map((i) => i.file),
        (done) => progress('hash', done, items.length),
      ));
    const cache = await EmbeddingCache.open(options.cacheDir, {
      modelId: handle.ref.id,
      modelVersion: handle.ref.version,
      modelSha256: handle.ref.sha256,
      output: 'embedding',
    });
    const failures: FeatureSet['failures'] = [];
    const jobs: { path: string; sha256: string; boxes: (typeof WHOLE_IMAGE)[]; item: LabelledImage }[] = [];
    for (const item of items) {
      const sha = hashes.get(item.file)!;
      if (typeof sha === 'string') jobs.push({ path: item.file, sha256: sha, boxes: [WHOLE_IMAGE], item });
      else failures.push({ path: item.path, code: sha.code, message: sha.message });
    }
    const results = await embedImageFaces({
      images: jobs,
      model: handle,
      caches: new Map([['embedding', cache]]),
      onProgress: (done) => progress('features', done, jobs.length),
    });
    const kept: LabelledImage[] = [];
    const vectors: Float32Array[] = [];
    results.forEach((result, j) => {
      const face = 'failure' in result ? result.failure : result.faces[0]!;
      if ('reason' in face) {
        failures.push({ path: jobs[j]!.item.path, code: face.code, message: face.message });
        return;
      }
      kept.push(jobs[j]!.item);
      vectors.push(face.embedding!);
    });
    const dims = vectors[0]?.length ?? 0;
    const features = new Float32Array(vectors.length * dims);
    for (const [i, v] of vectors.entries()) features.set(v, i * dims);
    return { items: kept, features, dims, failures };
  } finally {
    await handle.close();
  }
}
