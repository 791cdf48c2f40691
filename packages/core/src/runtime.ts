import { join } from 'node:path';
import { Encoder, type EncoderOptions } from '@fever/encoder';
import { type MetadataStore, metadataOptionsFromConfig, openMetadataStore } from '@fever/metadata';
import { type Config, type RuntimeMode, redactConfig, runtimeMode } from '@fever/schema';
import {
  modelAliasName,
  modelCollectionName,
  openVectorStore,
  type VectorStore,
  type VectorStoreConfig,
} from '@fever/vectors';
import { IndexMetrics } from './indexing/metrics.ts';
import { createLogger, type Logger } from './logger.ts';
import { recoverInterrupted } from './recovery.ts';

/** The model every stored vector of this process is tagged with, and where its vectors live. */
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

export interface Runtime {
  readonly config: Config;
  readonly mode: RuntimeMode;
  readonly logger: Logger;
  readonly metadata: MetadataStore;
  readonly vectors: VectorStore;
  /** The encoder, created on first use (it loads two ONNX models). */
  encoder(): Promise<Encoder>;
  /** The expression model in use, registered in metadata, its vector collection ensured. */
  model(): Promise<ModelContext>;
  /** Indexing metrics of the runs this process works on (the API adds them to its /metrics). */
  readonly metrics: IndexMetrics;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  logger?: Logger;
  /** Encoder settings beyond the config (CLI flags). */
  encoder?: Partial<EncoderOptions>;
  /** Default: new metrics, in no registry until an app registers them. */
  metrics?: IndexMetrics;
}

/** Qdrant when QDRANT_URL is set, else the embedded store under FEVER_DATA_DIR. */
export function vectorStoreConfig(config: Config): VectorStoreConfig {
  return config.qdrantUrl
    ? {
        kind: 'qdrant',
        url: config.qdrantUrl,
        apiKey: config.qdrantApiKey,
        batchSize: config.upsertBatchSize,
        efSearch: config.vectorEfSearch,
      }
    : {
        kind: 'embedded',
        dir: join(config.dataDir, 'vectors'),
        efSearch: config.vectorEfSearch,
        dtype: config.vectorDtype,
      };
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

/** Registers the encoder's expression model in metadata and names its vector collection and alias. */
export async function registerModel(metadata: MetadataStore, encoder: Encoder): Promise<ModelContext> {
  const m = encoder.model;
  const context: ModelContext = {
    id: m.id,
    version: m.version,
    dims: m.embeddingDims ?? 0,
    labels: m.labels ?? [],
    vectorCollection: modelCollectionName(m.id, m.version),
    alias: modelAliasName(m.id),
  };
  await metadata.models.register({
    id: m.id,
    version: m.version,
    dims: context.dims,
    labels: context.labels,
    fileSha256: m.sha256,
    manifest: m as unknown as Record<string, unknown>,
  });
  return context;
}

/**
 * Opens what a fever process needs, in the mode the config names (embedded by default:
 * PGlite + on-disk vectors under FEVER_DATA_DIR; Postgres/Qdrant when their URLs are set).
 */
export async function openRuntime(config: Config, options: RuntimeOptions = {}): Promise<Runtime> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const mode = runtimeMode(config);
  logger.info(
    { mode, config: redactConfig(config) },
    `fever starting: metadata ${mode.metadata}, vectors ${mode.vectors}, queue ${mode.queue}`,
  );
  const metadata = await openMetadataStore(metadataOptionsFromConfig(config));
  let vectors: VectorStore;
  try {
    vectors = await openVectorStore(vectorStoreConfig(config));
  } catch (err) {
    await metadata.close();
    throw err;
  }
  try {
    await recoverInterrupted({ metadata, vectors, logger, mode });
  } catch (err) {
    await Promise.allSettled([vectors.close(), metadata.close()]);
    throw err;
  }

  const encoder = lazyEncoder(config, logger, options.encoder);
  let model: Promise<ModelContext> | undefined;
  return {
    config,
    mode,
    logger,
    metadata,
    vectors,
    metrics: options.metrics ?? new IndexMetrics(),
    encoder: encoder.get,
    model() {
      model ??= encoder.get().then(async (enc) => {
        const context = await registerModel(metadata, enc);
        await vectors.ensureCollection({
          name: context.vectorCollection,
          dims: context.dims,
          distance: 'cosine',
        });
        // The first version of a model gets the alias at once; later versions take it over
        // only when their re-index completes (the indexer swaps it).
        if (!(await vectors.getAlias(context.alias)))
          await vectors.swapAlias(context.alias, context.vectorCollection);
        return context;
      });
      return model;
    },
    async close() {
      await Promise.allSettled([encoder.close(), vectors.close(), metadata.close()]);
    },
  };
}
