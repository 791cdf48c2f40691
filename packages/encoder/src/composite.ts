import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { ModelError } from './errors.ts';
import {
  isCompositeManifest,
  type LoadedModel,
  loadModel,
  type ModelManifest,
  modelAliasSchema,
  modelManifestSchema,
  readManifestJson,
  testTimeOptions,
  validateManifest,
} from './manifest.ts';
import { DEFAULT_LANDMARKS_MANIFEST } from './model-paths.ts';
import { sha256Bytes } from './sha256.ts';

/**
 * Expression models as fever runs them: one network (a plain manifest), or a composite of member
 * networks over one face, each with its own crop and preprocessing, fused into one embedding.
 *
 * Fusion: each member's embedding is L2-normalised and scaled by sqrt(w_i / Σw), then they are
 * concatenated: the result has unit length, and a cosine between two fused vectors is the
 * w-weighted mean of the members' cosines. Probabilities come from the member `probsFrom` names.
 */
const compositeManifestSchema = z
  .object({
    id: modelManifestSchema.shape.id,
    /** Optional: when given it must be the version fever derives from the members (see below). */
    version: z.string().min(1).optional(),
    alias: modelAliasSchema,
    task: z.literal('expression'),
    members: z
      .array(
        z
          .object({
            /** The member's own manifest, relative to this one. */
            manifest: z.string().min(1),
            weight: z.number().finite().nonnegative(),
            /** Optional: checked against the member's embeddingDims. */
            dims: z.number().int().positive().optional(),
            /** Replaces fields of the member's input (its crop, size, normalisation) for this composite. */
            input: modelManifestSchema.shape.input
              // No default here: a field left out keeps the member's own value.
              .extend({ crop: z.enum(['square-centre', 'stretch']) })
              .partial()
              .strict()
              .optional(),
          })
          .strict(),
      )
      .min(1),
    /** Id of the member whose probabilities (and labels) the model reports; none: no probabilities. */
    probsFrom: z.string().min(1).optional(),
    /**
     * A learned head over the fused embedding (`fever train head --base`): an ONNX file, relative
     * to this manifest, from `features` [batch, Σ dims] to `embedding` [batch, dims], whose output
     * is L2-normalised.
     */
    head: z
      .object({
        file: z.string().min(1),
        sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lower-case hex digits'),
        dims: z.number().int().positive(),
      })
      .strict()
      .optional(),
    /** Optional: checked against the sum of the members' dims (the head's dims with a head). */
    embeddingDims: z.number().int().positive().optional(),
    ...testTimeOptions,
    license: z.string().optional(),
    source: z.string().optional(),
  })
  .strict();

/** A composite as loaded: its version derived, its members named with their checksums. */
export interface CompositeManifest {
  id: string;
  version: string;
  /** The alias its versions share, when it is not the id (see modelAliasSchema). */
  alias?: string;
  task: 'expression';
  /** Digest of everything that makes the embeddings: members' files and inputs, weights, options. */
  sha256: string;
  embeddingDims: number;
  labels?: string[];
  members: {
    id: string;
    version: string;
    sha256: string;
    weight: number;
    dims: number;
    input: ModelManifest['input'];
  }[];
  head?: { sha256: string; dims: number };
  probsFrom?: string;
  align?: 'eyes';
  mirror?: boolean;
  license?: string;
  source?: string;
}

/** What names an expression model everywhere (vectors, eval reports, the models table). */
export type ExpressionManifest = ModelManifest | CompositeManifest;

/** An expression model ready to run: its networks, how they are fused, and its test-time options. */
export interface ExpressionModelSpec {
  manifest: ExpressionManifest;
  /** Absolute path of the manifest file. */
  manifestPath: string;
  /** Each member network with its weight; its manifest's input is the one it runs with. */
  members: { model: LoadedModel; weight: number }[];
  /** Index of the member whose probabilities are reported, or null. */
  probsFrom: number | null;
  /** The landmark model when faces are eye-aligned, else null. */
  landmarks: LoadedModel | null;
  mirror: boolean;
  /** The learned head over the fused embedding (its ONNX bytes), else null. */
  head: { bytes: Uint8Array; inputs: number; dims: number } | null;
}

/** True when the model reports class probabilities (and so a label per face). */
export function hasProbs(m: ExpressionManifest): boolean {
  return 'members' in m ? m.probsFrom !== undefined : Boolean(m.outputs.probs);
}

const invalid = (where: string, what: string) =>
  new ModelError('MODEL_MANIFEST_INVALID', `model manifest ${where}: ${what}`);

/**
 * Loads an expression model manifest, single network or composite, with every file it names
 * (checksums verified). A single network with `align` or `mirror` gets a version that says so,
 * as a composite's version is derived from all it is made of: changing any member, weight, input
 * or option changes the version, so vectors of different models never mix.
 */
export async function loadExpressionModel(manifestPath: string): Promise<ExpressionModelSpec> {
  const path = resolve(manifestPath);
  const raw = await readManifestJson(path);
  if (isCompositeManifest(raw)) return loadComposite(raw, path);
  const model = await loadModel(path);
  const m = model.manifest;
  if (m.task !== 'expression') {
    throw new ModelError(
      'MODEL_WRONG_TASK',
      `${path} is a ${m.task} model, but an expression model is needed here`,
    );
  }
  const landmarks = m.align ? await loadLandmarks(m.landmarks, path) : null;
  const suffix = [
    ...(landmarks ? [`align.${m.align}.${landmarks.manifest.sha256.slice(0, 8)}`] : []),
    ...(m.mirror ? ['mirror'] : []),
  ];
  const manifest = suffix.length ? { ...m, version: `${m.version}+${suffix.join('+')}` } : m;
  return {
    manifest,
    manifestPath: path,
    members: [{ model: { ...model, manifest }, weight: 1 }],
    probsFrom: m.outputs.probs ? 0 : null,
    landmarks,
    mirror: m.mirror === true,
    head: null,
  };
}

async function loadLandmarks(relative: string | undefined, manifestPath: string): Promise<LoadedModel> {
  const landmarks = await loadModel(
    relative ? resolve(dirname(manifestPath), relative) : DEFAULT_LANDMARKS_MANIFEST,
  );
  if (landmarks.manifest.task !== 'face-landmarks') {
    throw invalid(
      manifestPath,
      `landmarks names ${landmarks.manifestPath}, a ${landmarks.manifest.task} model`,
    );
  }
  return landmarks;
}

async function loadComposite(raw: unknown, path: string): Promise<ExpressionModelSpec> {
  const parsed = compositeManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new ModelError('MODEL_MANIFEST_INVALID', `model manifest ${path} is invalid: ${issues}`);
  }
  const c = parsed.data;
  const total = c.members.reduce((sum, m) => sum + m.weight, 0);
  if (!(total > 0))
    throw invalid(path, `members[].weight: the weights sum to ${total}; they must sum to a positive number`);

  const members = await Promise.all(
    c.members.map(async (entry, i) => {
      const field = `members[${i}]`;
      const memberPath = resolve(dirname(path), entry.manifest);
      const model = await loadModel(memberPath).catch((err: unknown) => {
        if (!(err instanceof ModelError)) throw err;
        throw new ModelError(err.code, `model manifest ${path}: ${field}.manifest: ${err.message}`, {
          cause: err,
        });
      });
      // The member's input with this composite's replacements, validated as a whole manifest.
      const merged = validateManifest(
        { ...model.manifest, input: { ...model.manifest.input, ...entry.input } },
        `${memberPath} (as ${field} of ${path})`,
      );
      const m = { ...model.manifest, input: merged.input };
      if (m.task !== 'expression')
        throw invalid(path, `${field}.manifest names a ${m.task} model; members are expression models`);
      for (const key of ['align', 'mirror', 'landmarks'] as const) {
        if (m[key] !== undefined)
          throw invalid(path, `${field}: ${m.id} sets ${key}; set it on the composite instead`);
      }
      if (m.embeddingDims === undefined)
        throw invalid(path, `${field}: ${m.id}'s manifest has no embeddingDims`);
      if (entry.dims !== undefined && entry.dims !== m.embeddingDims) {
        throw invalid(
          path,
          `${field}.dims is ${entry.dims}, but ${m.id}'s manifest says embeddingDims ${m.embeddingDims}`,
        );
      }
      return { model: { ...model, manifest: m }, weight: entry.weight };
    }),
  );

  const fused = members.reduce((sum, m) => sum + m.model.manifest.embeddingDims!, 0);
  const dims = c.head?.dims ?? fused;
  if (c.embeddingDims !== undefined && c.embeddingDims !== dims) {
    throw invalid(
      path,
      c.head
        ? `embeddingDims is ${c.embeddingDims}, but head.dims is ${dims}`
        : `embeddingDims is ${c.embeddingDims}, but the members' dims sum to ${dims}`,
    );
  }
  const head = c.head ? { ...(await loadHead(c.head, path)), inputs: fused, dims: c.head.dims } : null;
  let probsFrom: number | null = null;
  if (c.probsFrom !== undefined) {
    const matches = members.flatMap((m, i) => (m.model.manifest.id === c.probsFrom ? [i] : []));
    if (matches.length !== 1) {
      throw invalid(
        path,
        `probsFrom names ${c.probsFrom}, which ${matches.length ? 'several members are' : 'no member is'}`,
      );
    }
    probsFrom = matches[0]!;
    if (!members[probsFrom]!.model.manifest.outputs.probs)
      throw invalid(path, `probsFrom: ${c.probsFrom} has no probs output`);
  }
  const landmarks = c.align ? await loadLandmarks(c.landmarks, path) : null;

  const described = members.map(({ model: { manifest: m }, weight }) => ({
    id: m.id,
    version: m.version,
    sha256: m.sha256,
    weight,
    dims: m.embeddingDims!,
    input: m.input,
  }));
  const sha256 = sha256Bytes(
    new TextEncoder().encode(
      JSON.stringify({
        members: described,
        probsFrom: c.probsFrom ?? null,
        align: landmarks ? { kind: c.align, landmarks: landmarks.manifest.sha256 } : null,
        mirror: c.mirror === true,
        ...(c.head ? { head: c.head.sha256 } : {}),
      }),
    ),
  );
  const version = `c.${sha256.slice(0, 12)}`;
  if (c.version !== undefined && c.version !== version) {
    throw invalid(path, `version is ${c.version}, but its members, weights and options make ${version}`);
  }
  const labels = probsFrom === null ? undefined : members[probsFrom]!.model.manifest.labels;
  const manifest: CompositeManifest = {
    id: c.id,
    version,
    ...(c.alias ? { alias: c.alias } : {}),
    task: 'expression',
    sha256,
    embeddingDims: dims,
    ...(labels ? { labels } : {}),
    members: described,
    ...(c.head ? { head: { sha256: c.head.sha256, dims: c.head.dims } } : {}),
    ...(c.probsFrom !== undefined ? { probsFrom: c.probsFrom } : {}),
    ...(c.align ? { align: c.align } : {}),
    ...(c.mirror !== undefined ? { mirror: c.mirror } : {}),
    ...(c.license ? { license: c.license } : {}),
    ...(c.source ? { source: c.source } : {}),
  };
  return { manifest, manifestPath: path, members, probsFrom, landmarks, mirror: c.mirror === true, head };
}

async function loadHead(
  head: { file: string; sha256: string },
  path: string,
): Promise<{ bytes: Uint8Array }> {
  const file = resolve(dirname(path), head.file);
  const bytes = await readFile(file).catch((err: Error) => {
    throw new ModelError(
      'MODEL_NOT_FOUND',
      `model manifest ${path}: head.file ${file} cannot be read: ${err.message}`,
      {
        cause: err,
      },
    );
  });
  const actual = sha256Bytes(bytes);
  if (actual !== head.sha256) {
    throw new ModelError(
      'MODEL_CHECKSUM_MISMATCH',
      `head file ${file} has sha256 ${actual}, but ${path} says ${head.sha256}`,
    );
  }
  return { bytes };
}
