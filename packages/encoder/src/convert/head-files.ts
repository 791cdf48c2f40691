import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { z } from 'zod';
import { ModelError } from '../errors.ts';
import { sha256Bytes } from '../sha256.ts';
import { type ExpressionHead, HEAD_INPUT_DIMS } from './networks.ts';

/**
 * A learned head on disk: `head.json` (shape, checksum, how it was trained) beside `head.bin`
 * (each layer's weight [in, out] then bias, then any fine-tuned trunk tensors in face-api's
 * layouts, float32 little-endian). A few MB (a fine-tuned dense3 adds 0.95 MB), so heads can be
 * committed and composed with the face-api trunk at install, like the converted models.
 * The sha256 of head.bin versions the composed model, fine-tuned trunk tensors included.
 * A head over a base model (input `model`) is composed with that model instead (composeBaseHead).
 */
const headFileSchema = z.object({
  /** Model id of the composed model. */
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/),
  /** `model`: the head reads the embedding of the expression model named by `base`. */
  input: z.enum(['pooled', 'grid', 'model']),
  /** With input `model`: the base model's manifest (relative to the head's folder) and what it was. */
  base: z
    .object({ manifest: z.string().min(1), id: z.string().min(1), version: z.string().min(1) })
    .optional(),
  layers: z
    .array(
      z.object({
        inputs: z.number().int().positive(),
        outputs: z.number().int().positive(),
        activation: z.enum(['relu', 'none']),
      }),
    )
    .min(1),
  /** Fine-tuned trunk tensors stored after the layers, replacing face-api's tensors of these names. */
  trunk: z
    .array(
      z.object({
        name: z.string().regex(/^dense[0-3]\/[a-z0-9_/]+$/),
        shape: z.array(z.number().int().positive()).min(1),
      }),
    )
    .optional(),
  weights: z.object({ file: z.string().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  /** Free-form: the command, data, seed and scores that produced the head. */
  training: z.record(z.string(), z.unknown()).optional(),
});

export type HeadFile = z.infer<typeof headFileSchema>;

export interface LoadedHead {
  file: HeadFile;
  head: ExpressionHead;
  dir: string;
}

export async function readHeadFiles(dir: string): Promise<LoadedHead> {
  const where = join(dir, 'head.json');
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(where, 'utf8'));
  } catch (err) {
    throw new ModelError('MODEL_NOT_FOUND', `head ${where} cannot be read: ${(err as Error).message}`);
  }
  const parsed = headFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ModelError('MODEL_MANIFEST_INVALID', `head ${where} is invalid: ${issues.join('; ')}`);
  }
  const file = parsed.data;
  if ((file.input === 'model') !== (file.base !== undefined)) {
    throw new ModelError(
      'MODEL_MANIFEST_INVALID',
      `head ${where}: base is needed with input model, and only then`,
    );
  }
  const bytes = await readFile(join(dir, file.weights.file));
  if (sha256Bytes(bytes) !== file.weights.sha256) {
    throw new ModelError(
      'MODEL_CHECKSUM_MISMATCH',
      `head weights ${join(dir, file.weights.file)} do not match the sha256 in ${where}`,
    );
  }
  const floats = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  let offset = 0;
  let width = file.input === 'model' ? file.layers[0]!.inputs : HEAD_INPUT_DIMS[file.input];
  const layers = file.layers.map((layer, i) => {
    if (layer.inputs !== width) {
      throw new ModelError(
        'MODEL_MANIFEST_INVALID',
        `head ${where}: layer ${i} takes ${layer.inputs} inputs, gets ${width}`,
      );
    }
    width = layer.outputs;
    const weightEnd = offset + layer.inputs * layer.outputs;
    const weight = floats.subarray(offset, weightEnd);
    const bias = floats.subarray(weightEnd, weightEnd + layer.outputs);
    offset = weightEnd + layer.outputs;
    return { ...layer, weight, bias };
  });
  const trunk = (file.trunk ?? []).map(({ name, shape }) => {
    const end = offset + shape.reduce((a, b) => a * b, 1);
    const data = floats.subarray(offset, end);
    offset = end;
    return { name, shape, data };
  });
  if (offset !== floats.length) {
    throw new ModelError(
      'MODEL_MANIFEST_INVALID',
      `head ${where}: the layers need ${offset} floats, ${file.weights.file} holds ${floats.length}`,
    );
  }
  return { file, head: { input: file.input, layers, ...(trunk.length ? { trunk } : {}) }, dir };
}

/** Writes head.json and head.bin; returns the sha256 of head.bin, which versions the model. */
export async function writeHeadFiles(
  dir: string,
  id: string,
  head: ExpressionHead,
  training?: Record<string, unknown>,
  /** For an input `model` head: the base model's manifest path and what it is. */
  base?: { manifestPath: string; id: string; version: string },
): Promise<HeadFile> {
  const parts = [...head.layers.flatMap((l) => [l.weight, l.bias]), ...(head.trunk ?? []).map((t) => t.data)];
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    bytes.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), offset);
    offset += p.byteLength;
  }
  const file: HeadFile = {
    id,
    input: head.input,
    ...(base
      ? { base: { manifest: relative(dir, base.manifestPath), id: base.id, version: base.version } }
      : {}),
    layers: head.layers.map(({ inputs, outputs, activation }) => ({ inputs, outputs, activation })),
    ...(head.trunk?.length ? { trunk: head.trunk.map(({ name, shape }) => ({ name, shape })) } : {}),
    weights: { file: 'head.bin', sha256: sha256Bytes(bytes) },
    ...(training ? { training } : {}),
  };
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'head.bin.tmp'), bytes);
  await rename(join(dir, 'head.bin.tmp'), join(dir, 'head.bin'));
  await writeFile(join(dir, 'head.json.tmp'), `${JSON.stringify(file, null, 2)}\n`);
  await rename(join(dir, 'head.json.tmp'), join(dir, 'head.json'));
  return file;
}

/** The head folders under `dir` (each holding a head.json). */
export async function listHeadDirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const dirs: string[] = [];
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const exists = await readFile(join(dir, e.name, 'head.json')).then(
      () => true,
      () => false,
    );
    if (exists) dirs.push(join(dir, e.name));
  }
  return dirs.sort();
}
