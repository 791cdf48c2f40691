import type { Encoder, EncoderOptions } from '@fever/encoder';
import { TransientError } from '@fever/errors';
import { type MetadataStore, metadataOptionsFromConfig, openMetadataStore } from '@fever/metadata';
import { type Config, redactConfig, runtimeMode } from '@fever/schema';
import { openVectorStore, type VectorStore } from '@fever/vectors';
import { createLogger, type Logger } from '../logger.ts';
import { recoverInterrupted } from '../recovery.ts';
import { lazyEncoder, type ModelContext, registerModel, vectorStoreConfig } from '../runtime.ts';
import type { IndexMetrics } from './metrics.ts';

/**
 * What the indexing stages need. A core `Runtime` is one (the API passes its runtime); the CLI
 * and the worker open their own with openIndexContext(), because a process that only discovers
 * and embeds must not hold the embedded vector store (one process at a time may).
 */
export interface IndexContext {
  readonly config: Config;
  readonly logger: Logger;
  readonly metadata: MetadataStore;
  /** Absent where this process does not write vectors (the write stage then runs elsewhere). */
  readonly vectors?: VectorStore | undefined;
  encoder(): Promise<Encoder>;
  /** The expression model in use, registered in metadata. */
  model(): Promise<ModelContext>;
  /** Where the stages record their Prometheus metrics; absent → nothing is recorded. */
  readonly metrics?: IndexMetrics | undefined;
}

export interface OwnedIndexContext extends IndexContext {
  /**
   * Tries to open the vector store if this context has none yet (another process may hold the
   * embedded one). True when it is open afterwards.
   */
  acquireVectors(): Promise<boolean>;
  close(): Promise<void>;
}

export interface OpenIndexContextOptions {
  logger?: Logger;
  encoder?: Partial<EncoderOptions>;
  /**
   * `open`: open the vector store, failing if it cannot be. `try`: open it if free (an embedded
   * store held by another process is left to that process). `none`: never (coordinators).
   */
  vectors?: 'open' | 'try' | 'none';
  /** Metrics the stages record into (a worker serves them on its /metrics). */
  metrics?: IndexMetrics;
}

/** Opens metadata (and, as asked, vectors) for an indexing process; the encoder loads on first use. */
export async function openIndexContext(
  config: Config,
  options: OpenIndexContextOptions = {},
): Promise<OwnedIndexContext> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const mode = runtimeMode(config);
  logger.info(
    { mode, config: redactConfig(config) },
    `fever indexing: metadata ${mode.metadata}, vectors ${mode.vectors}, queue ${mode.queue}`,
  );
  const metadata = await openMetadataStore(metadataOptionsFromConfig(config));
  let vectors: VectorStore | undefined;
  const openVectors = () => openVectorStore(vectorStoreConfig(config));
  const want = options.vectors ?? 'open';
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
  let model: Promise<ModelContext> | undefined;
  let closed = false;

  return {
    config,
    logger,
    metadata,
    metrics: options.metrics,
    get vectors() {
      return vectors;
    },
    encoder: encoder.get,
    model() {
      model ??= encoder.get().then((enc) => registerModel(metadata, enc));
      return model;
    },
    async acquireVectors() {
      if (vectors) return true;
      if (closed || want === 'none') return false;
      vectors = await openVectors().catch(ignoreLocked);
      return vectors !== undefined;
    },
    async close() {
      closed = true;
      await Promise.allSettled([encoder.close(), vectors?.close(), metadata.close()]);
    },
  };
}

function ignoreLocked(err: unknown): undefined {
  if (err instanceof TransientError && err.code === 'VECTORS_LOCKED') return undefined;
  throw err;
}

const ensured = new WeakMap<VectorStore, Map<string, Promise<void>>>();

/**
 * Makes sure the model version's vector collection exists in `vectors` (once per store), and
 * gives the model's alias to it if the alias points nowhere yet (the first version of a model).
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
