import { join } from 'node:path';
import { Encoder, type EncoderOptions } from '@fever/encoder';
import { type MetadataStore, metadataOptionsFromConfig, openMetadataStore } from '@fever/metadata';
import { type Config, type RuntimeMode, redactConfig, runtimeMode } from '@fever/schema';
import { modelAliasName, modelCollectionName, openVectorStore, type VectorStore } from '@fever/vectors';
import { createLogger, type Logger } from './logger.ts';

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
  close(): Promise<void>;
}

export interface RuntimeOptions {
  logger?: Logger;
  /** Encoder settings beyond the config (CLI flags). */
  encoder?: Partial<EncoderOptions>;
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
    vectors = await openVectorStore(
      config.qdrantUrl
        ? {
            kind: 'qdrant',
            url: config.qdrantUrl,
            apiKey: config.qdrantApiKey,
            batchSize: config.upsertBatchSize,
          }
        : { kind: 'embedded', dir: join(config.dataDir, 'vectors') },
    );
  } catch (err) {
    await metadata.close();
    throw err;
  }

  let encoder: Promise<Encoder> | undefined;
  let model: Promise<ModelContext> | undefined;
  const getEncoder = () => {
    encoder ??= Encoder.create({
      device: config.device,
      threads: config.threads ?? 0,
      expressionModel: config.modelManifest,
      logger: {
        info: (fields, message) => logger.info(fields, message),
        warn: (fields, message) => logger.warn(fields, message),
      },
      ...options.encoder,
    });
    return encoder;
  };

  return {
    config,
    mode,
    logger,
    metadata,
    vectors,
    encoder: getEncoder,
    model() {
      model ??= getEncoder().then(async (enc) => {
        const m = enc.model;
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
      const enc = encoder ? await encoder.catch(() => undefined) : undefined;
      await Promise.allSettled([enc?.close(), vectors.close(), metadata.close()]);
    },
  };
}
