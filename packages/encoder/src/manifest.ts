import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { ModelError } from './errors.ts';
import { sha256Bytes } from './sha256.ts';

/**
 * What an expression model does to a face before and after its network(s), each switchable so it
 * can be measured on and off. Either one changes the embeddings, so it changes the model version.
 */
export const testTimeOptions = {
  /** `eyes`: rotate each face crop about its centre so the eye line (68-point landmarks) is level. */
  align: z.enum(['eyes']).optional(),
  /** Manifest of the landmark model `align` uses, relative to this manifest; default face-api's. */
  landmarks: z.string().min(1).optional(),
  /** Average each network's raw embedding of the face and of its mirror image, then normalise. */
  mirror: z.boolean().optional(),
};

/**
 * The manifest that sits beside every ONNX model fever runs. It is the whole contract between a
 * model file and the encoder: a user's own DeepFEVER/FECNet-style model plugs in by writing one.
 */
const modelIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'lower-case letters, digits, ".", "_" or "-"');

/**
 * The alias a model's versions share (default: its id); searches answer through it (see core's
 * serving.ts). A model that replaces another names the other's alias: an index of the old model
 * then keeps answering until the new one's re-index completes and takes the alias over.
 */
export const modelAliasSchema = modelIdSchema.optional();

export const modelManifestSchema = z.object({
  id: modelIdSchema,
  version: z.string().min(1),
  alias: modelAliasSchema,
  /**
   * `expression`: embedding (+ probs) of a face crop; `face-identity`: an identity descriptor of a
   * face crop; `face-detector`: faces in a whole image; `face-landmarks`: 68 points on a face crop.
   */
  task: z.enum(['expression', 'face-identity', 'face-detector', 'face-landmarks']),
  /** face-detector only: how its outputs become boxes. Default `tiny-yolo-v2` (`grid`); `ssd` reads `boxes` + `scores`. */
  decoder: z.enum(['tiny-yolo-v2', 'ssd']).optional(),
  file: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lower-case hex digits'),
  input: z.object({
    name: z.string().min(1),
    /** [height, width] of the network input. */
    size: z.tuple([z.number().int().positive(), z.number().int().positive()]),
    layout: z.enum(['NCHW', 'NHWC']),
    channels: z.enum(['RGB', 'BGR', 'GRAY']),
    /** GRAY only: grey = r·R + g·G + b·B, before mean/std. Default [0.299, 0.587, 0.114] (ITU-R 601). */
    grayWeights: z.tuple([z.number(), z.number(), z.number()]).optional(),
    /** Applied by fever before the model: (pixel - mean) / std, per channel, pixels in 0..255. */
    mean: z.array(z.number()).min(1).max(3),
    std: z
      .array(z.number().refine((v) => v !== 0, 'std must not be 0'))
      .min(1)
      .max(3),
    /**
     * How a face region becomes the input: `square-centre` pads the crop to a square with the face
     * centred (face-api), `stretch` resizes it as it is. Resizing is always TF bilinear without
     * half-pixel centres, the way the reference models were trained and run.
     */
    crop: z.enum(['square-centre', 'stretch']).default('square-centre'),
  }),
  outputs: z.object({
    /** The vector fever indexes and searches. */
    embedding: z.string().min(1).optional(),
    /** Class probabilities (softmax applied), one per label. */
    probs: z.string().min(1).optional(),
    /** The raw detector grid, for tiny-yolo-v2 face detectors. */
    grid: z.string().min(1).optional(),
    /** SSD face detectors: decoded anchor boxes [batch, anchors, 4] (ymin, xmin, ymax, xmax, relative). */
    boxes: z.string().min(1).optional(),
    /** SSD face detectors: face score per anchor [batch, anchors]. */
    scores: z.string().min(1).optional(),
    /** Landmark models: [batch, 2 × points] (x, y) pairs relative to the padded square input. */
    landmarks: z.string().min(1).optional(),
  }),
  embeddingDims: z.number().int().positive().optional(),
  labels: z.array(z.string().min(1)).optional(),
  ...testTimeOptions,
  license: z.string().optional(),
  source: z.string().optional(),
  /** The files a converted model was made from (`<package>@<version>/<path>`), with their sha256. */
  sources: z
    .array(z.object({ path: z.string().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/) }))
    .optional(),
});

export type ModelManifest = z.infer<typeof modelManifestSchema>;

export interface LoadedModel {
  manifest: ModelManifest;
  /** Absolute path of the manifest file. */
  manifestPath: string;
  bytes: Uint8Array;
}

export function validateManifest(raw: unknown, where: string): ModelManifest {
  const parsed = modelManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new ModelError('MODEL_MANIFEST_INVALID', `model manifest ${where} is invalid: ${issues}`);
  }
  const m = parsed.data;
  const invalid = (what: string) =>
    new ModelError('MODEL_MANIFEST_INVALID', `model manifest ${where}: ${what}`);
  const required = (...keys: (keyof ModelManifest['outputs'])[]) => {
    for (const key of keys)
      if (!m.outputs[key]) throw invalid(`outputs.${key} is required for a ${m.task} model`);
  };
  if (m.task === 'expression' || m.task === 'face-identity') {
    required('embedding');
    if (m.outputs.probs && !m.labels?.length) throw invalid('outputs.probs needs labels');
  }
  if (m.task === 'face-detector')
    required(...(m.decoder === 'ssd' ? (['boxes', 'scores'] as const) : (['grid'] as const)));
  if (m.task === 'face-landmarks') required('landmarks');
  if (m.decoder && m.task !== 'face-detector')
    throw invalid(`decoder applies to face-detector models, not ${m.task}`);
  for (const key of ['align', 'landmarks', 'mirror'] as const) {
    if (m[key] !== undefined && m.task !== 'expression')
      throw invalid(`${key} applies to expression models, not ${m.task}`);
  }
  if (m.input.grayWeights && m.input.channels !== 'GRAY') {
    throw new ModelError(
      'MODEL_MANIFEST_INVALID',
      `model manifest ${where}: input.grayWeights needs input.channels GRAY, not ${m.input.channels}`,
    );
  }
  const channels = m.input.channels === 'GRAY' ? 1 : 3;
  for (const key of ['mean', 'std'] as const) {
    if (m.input[key].length !== 1 && m.input[key].length !== channels) {
      throw new ModelError(
        'MODEL_MANIFEST_INVALID',
        `model manifest ${where}: input.${key} needs 1 or ${channels} values, has ${m.input[key].length}`,
      );
    }
  }
  return m;
}

/** A manifest file's JSON, or a ModelError saying why it cannot be had. */
export async function readManifestJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ModelError(
      'MODEL_NOT_FOUND',
      `model manifest ${path} cannot be read: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ModelError(
      'MODEL_MANIFEST_INVALID',
      `model manifest ${path} is not JSON: ${(err as Error).message}`,
    );
  }
}

/** A composite expression model's manifest names `members` instead of one file. */
export function isCompositeManifest(raw: unknown): boolean {
  return typeof raw === 'object' && raw !== null && 'members' in raw;
}

/**
 * Reads a single-network manifest and its model file, and refuses a file whose sha256 does not
 * match. (An expression model that may be a composite loads with loadExpressionModel.)
 */
export async function loadModel(manifestPath: string): Promise<LoadedModel> {
  const path = resolve(manifestPath);
  const raw = await readManifestJson(path);
  if (isCompositeManifest(raw)) {
    throw new ModelError(
      'MODEL_WRONG_TASK',
      `${path} is a composite expression model (it names members); a single network is needed here`,
    );
  }
  return loadNetwork(validateManifest(raw, path), path);
}

async function loadNetwork(manifest: ModelManifest, path: string): Promise<LoadedModel> {
  const file = resolve(dirname(path), manifest.file);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new ModelError(
      'MODEL_NOT_FOUND',
      `model file ${file} (named by ${path}) cannot be read: ${(err as Error).message}. ` +
        'The default models are converted by `npm run models`.',
      { cause: err },
    );
  }
  const actual = sha256Bytes(bytes);
  if (actual !== manifest.sha256) {
    throw new ModelError(
      'MODEL_CHECKSUM_MISMATCH',
      `model file ${file} has sha256 ${actual}, but ${path} says ${manifest.sha256}`,
    );
  }
  return { manifest, manifestPath: path, bytes };
}
