/**
 * The one composition of a fever process: the config, a logger, the metadata store, the vector
 * store (as the process needs it), the encoder (loaded on first use) and the indexing metrics.
 * The API, `fever search`, `fever index` and the workers all open one with openRuntime().
 */
import { join } from 'node:path';
import { DEFAULT_EXPRESSION_MANIFEST, type Encoder, type EncoderOptions } from '@fever/encoder';
import { TransientError } from '@fever/errors';
import { type MetadataStore, metadataOptionsFromConfig, openMetadataStore } from '@fever/metadata';
import { type Config, type RuntimeMode, redactConfig, runtimeMode } from '@fever/schema';
import { openVectorStore, type VectorStore, type VectorStoreConfig } from '@fever/vectors';
import { IndexMetrics } from './indexing/metrics.ts';
import { createLogger, type Logger } from './logger.ts';
import { ensureVectorCollection, lazyEncoder, type ModelContext, registerModel } from './models.ts';
import { recoverInterrupted } from './recovery.ts';
import { ModelAlias } from './serving.ts';

export interface Runtime {
  readonly config: Config;
  readonly mode: RuntimeMode;
  readonly logger: Logger;
  readonly metadata: MetadataStore;
  /** The vector store, where this process holds it (see RuntimeOptions.vectors). */
  readonly vectors: VectorStore | undefined;
  /**
   * Opens the vector store if this runtime has none yet and it is free now (another process may
   * hold the embedded one). True when it is open afterwards; always false with `vectors: 'none'`.
   */
  acquireVectors(): Promise<boolean>;
  /** The encoder, created on first use (it loads its ONNX models). */
  encoder(): Promise<Encoder>;
  /**
   * The expression model of this process's encoder, registered in metadata (and, where this
   * process holds the vector store, its vector collection ensured).
   */
  model(): Promise<ModelContext>;
  /** Indexing metrics of the runs this process works on (an app registers them in its registry). */
  readonly metrics: IndexMetrics;
  close(): Promise<void>;
}

/** A runtime that holds the vector store: what serves searches. */
export interface ServingRuntime extends Runtime {
  readonly vectors: VectorStore;
  /**
   * The model version searches answer with: the one the alias points at (see serving.ts), which
   * may be another version than model(), this process's own.
   */
  readonly serving: ModelAlias;
}

export interface RuntimeOptions {
  logger?: Logger;
  /** Encoder settings beyond the config (CLI flags). */
  encoder?: Partial<EncoderOptions>;
  /**
   * `open` (default): open the vector store, failing if it cannot be. `try`: open it if it is
   * free (an embedded store held by another process is left to that process). `none`: never (a
   * process that only discovers and embeds, or starts runs for workers).
   */
  vectors?: 'open' | 'try' | 'none';
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

/**
 * Opens what a fever process needs, in the mode the config names (embedded by default:
 * PGlite + on-disk vectors under FEVER_DATA_DIR; Postgres/Qdrant when their URLs are set).
 */
export async function openRuntime(
  config: Config,
  options?: RuntimeOptions & { vectors?: 'open' },
): Promise<ServingRuntime>;
export async function openRuntime(config: Config, options: RuntimeOptions): Promise<Runtime>;
export async function openRuntime(config: Config, options: RuntimeOptions = {}): Promise<Runtime> {
  const logger = options.logger ?? createLogger(config);
  const mode = runtimeMode(config);
  logger.info(
    { mode, config: redactConfig(config) },
    `fever starting: metadata ${mode.metadata}, vectors ${mode.vectors}, queue ${mode.queue}`,
  );
  const metadata = await openMetadataStore(metadataOptionsFromConfig(config));
  const want = options.vectors ?? 'open';
  const openVectors = () => openVectorStore(vectorStoreConfig(config));
  let vectors: VectorStore | undefined;
  try {
    if (want === 'open') vectors = await openVectors();
    else if (want === 'try') vectors = await openVectors().catch(ignoreLocked);
  } catch (err) {
    await metadata.close();
    throw err;
  }
  try {
    await recoverInterrupted({ metadata, vectors, logger, mode });
  } catch (err) {
    await Promise.allSettled([vectors?.close(), metadata.close()]);
    throw err;
  }

  const encoder = lazyEncoder(config, logger, options.encoder);
  const manifestPath =
    options.encoder?.expressionModel ?? config.modelManifest ?? DEFAULT_EXPRESSION_MANIFEST;
  let model: Promise<ModelContext> | undefined;
  const ownModel = () => {
    model ??= encoder.get().then(async (enc) => {
      const context = await registerModel(metadata, enc, manifestPath);
      if (vectors) await ensureVectorCollection(vectors, context);
      return context;
    });
    return model;
  };
  const serving =
    vectors &&
    new ModelAlias({
      metadata,
      vectors,
      logger,
      own: ownModel,
      ownEncoder: encoder.get,
      openEncoder: (path) => lazyEncoder(config, logger, { ...options.encoder, expressionModel: path }).get(),
    });
  let closed = false;
  const runtime: Runtime & { serving: ModelAlias | undefined } = {
    config,
    mode,
    logger,
    metadata,
    get vectors() {
      return vectors;
    },
    async acquireVectors() {
      if (vectors) return true;
      if (closed || want === 'none') return false;
      vectors = await openVectors().catch(ignoreLocked);
      return vectors !== undefined;
    },
    metrics: options.metrics ?? new IndexMetrics(),
    encoder: encoder.get,
    model: ownModel,
    serving,
    async close() {
      closed = true;
      await serving?.close().catch(() => {});
      await Promise.allSettled([encoder.close(), vectors?.close(), metadata.close()]);
    },
  };
  return runtime;
}

/** A vector store held by another process is not an error for a runtime that only tries. */
function ignoreLocked(err: unknown): undefined {
  if (err instanceof TransientError && err.code === 'VECTORS_LOCKED') return undefined;
  throw err;
}
