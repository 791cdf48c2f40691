/**
 * Expression models as the stores know them: a model version registered in metadata, its vector
 * collection, and the alias through which searches reach a version's collection.
 */
import { DEFAULT_IDENTITY_MANIFEST, Encoder, type EncoderOptions } from '@fever/encoder';
import type { MetadataStore } from '@fever/metadata';
import type { Config } from '@fever/schema';
import { modelAliasName, modelCollectionName, type VectorStore } from '@fever/vectors';
import type { Logger } from './logger.ts';

/** A model version, and where its vectors live. */
export interface ModelContext {
  id: string;
  version: string;
  dims: number;
  labels: string[];
  /** The vector collection of this model version. */
  vectorCollection: string;
  /** The alias searches go through; it moves to a new version when a re-index completes. */
  alias: string;
}

/**
 * The model context of id@version. Its alias is the one its manifest names (a model that replaces
 * another shares that model's alias), else the model's own.
 */
export function modelContext(model: {
  id: string;
  version: string;
  dims: number;
  labels: string[];
  manifest?: Record<string, unknown> | null;
}): ModelContext {
  const alias = model.manifest?.alias;
  return {
    id: model.id,
    version: model.version,
    dims: model.dims,
    labels: model.labels,
    vectorCollection: modelCollectionName(model.id, model.version),
    alias: modelAliasName(typeof alias === 'string' ? alias : model.id),
  };
}

/** Registers the encoder's expression model, loaded from `manifestPath`, in metadata; its context. */
export async function registerModel(
  metadata: MetadataStore,
  encoder: Encoder,
  manifestPath: string,
): Promise<ModelContext> {
  const m = encoder.model;
  const context = modelContext({
    id: m.id,
    version: m.version,
    dims: m.embeddingDims ?? 0,
    labels: m.labels ?? [],
    manifest: { alias: m.alias },
  });
  await metadata.models.register({
    id: m.id,
    version: m.version,
    dims: context.dims,
    labels: context.labels,
    fileSha256: m.sha256,
    manifest: m as unknown as Record<string, unknown>,
    manifestPath,
  });
  return context;
}

const ensured = new WeakMap<VectorStore, Map<string, Promise<void>>>();

/**
 * Makes sure the model version's vector collection exists in `vectors` (once per store), and
 * gives the model's alias to it if the alias points nowhere yet (the first version of a model).
 * Later versions take the alias over only when their re-index completes (finalizeRun).
 */
export function ensureVectorCollection(vectors: VectorStore, model: ModelContext): Promise<void> {
  const byName = ensured.get(vectors) ?? new Map<string, Promise<void>>();
  ensured.set(vectors, byName);
  let done = byName.get(model.vectorCollection);
  if (!done) {
    done = (async () => {
      await vectors.ensureCollection({ name: model.vectorCollection, dims: model.dims, distance: 'cosine' });
      if (!(await vectors.getAlias(model.alias)))
        await vectors.swapAlias(model.alias, model.vectorCollection);
    })();
    done.catch(() => byName.delete(model.vectorCollection));
    byName.set(model.vectorCollection, done);
  }
  return done;
}

/** The encoder, created on first call (it loads its ONNX models) and shared afterwards. */
export function lazyEncoder(
  config: Config,
  logger: Logger,
  overrides: Partial<EncoderOptions> = {},
): { get(): Promise<Encoder>; close(): Promise<void> } {
  let encoder: Promise<Encoder> | undefined;
  return {
    get() {
      encoder ??= Encoder.create({
        device: config.device,
        threads: config.threads ?? 0,
        expressionModel: config.modelManifest,
        detectorModel: config.detector,
        // Collections store identity descriptors by default, and person-aware searches of an
        // upload need the example's own.
        identityModel: DEFAULT_IDENTITY_MANIFEST,
        logger: {
          info: (fields, message) => logger.info(fields, message),
          warn: (fields, message) => logger.warn(fields, message),
        },
        ...overrides,
      });
      return encoder;
    },
    async close() {
      const enc = encoder ? await encoder.catch(() => undefined) : undefined;
      await enc?.close();
    },
  };
}
