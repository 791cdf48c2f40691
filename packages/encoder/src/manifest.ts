import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { ModelError } from './errors.ts';

/**
 * The manifest that sits beside every ONNX model fever runs. It is the whole contract between a
 * model file and the encoder: a user's own DeepFEVER/FECNet-style model plugs in by writing one.
 */
export const modelManifestSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'lower-case letters, digits, ".", "_" or "-"'),
  version: z.string().min(1),
  task: z.enum(['expression', 'face-detector']),
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
    /** The raw detector grid, for face detectors. */
    grid: z.string().min(1).optional(),
  }),
  embeddingDims: z.number().int().positive().optional(),
  labels: z.array(z.string().min(1)).optional(),
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

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function validateManifest(raw: unknown, where: string): ModelManifest {
  const parsed = modelManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new ModelError('MODEL_MANIFEST_INVALID', `model manifest ${where} is invalid: ${issues}`);
  }
  const m = parsed.data;
  if (m.task === 'expression') {
    if (!m.outputs.embedding) {
      throw new ModelError(
        'MODEL_MANIFEST_INVALID',
        `model manifest ${where}: outputs.embedding is required`,
      );
    }
    if (m.outputs.probs && !m.labels?.length) {
      throw new ModelError('MODEL_MANIFEST_INVALID', `model manifest ${where}: outputs.probs needs labels`);
    }
  }
  if (m.task === 'face-detector' && !m.outputs.grid) {
    throw new ModelError('MODEL_MANIFEST_INVALID', `model manifest ${where}: outputs.grid is required`);
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

/** Reads a manifest and its model file, and refuses a file whose sha256 does not match. */
export async function loadModel(manifestPath: string): Promise<LoadedModel> {
  const path = resolve(manifestPath);
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
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ModelError(
      'MODEL_MANIFEST_INVALID',
      `model manifest ${path} is not JSON: ${(err as Error).message}`,
    );
  }
  const manifest = validateManifest(raw, path);
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
  const actual = sha256Hex(bytes);
  if (actual !== manifest.sha256) {
    throw new ModelError(
      'MODEL_CHECKSUM_MISMATCH',
      `model file ${file} has sha256 ${actual}, but ${path} says ${manifest.sha256}`,
    );
  }
  return { manifest, manifestPath: path, bytes };
}
