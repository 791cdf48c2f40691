export { createCollection, type DeletedCollection, deleteCollection } from './collections.ts';
export * from './indexing/index.ts';
export { createLogger, type Logger, type LogSettings } from './logger.ts';
export {
  BATCH_BUCKETS,
  collectProcessMetrics,
  createMetricsRegistry,
  LATENCY_BUCKETS,
  type MetricsServer,
  serveMetrics,
} from './metrics.ts';
export { ensureVectorCollection, type ModelContext, modelContext } from './models.ts';
export { pingRedis, probeRedis, type RedisProbe, RedisProbeError } from './redis-probe.ts';
export {
  openRuntime,
  type Runtime,
  type RuntimeOptions,
  type ServingRuntime,
  vectorStoreConfig,
} from './runtime.ts';
export {
  type ImageSearchResult,
  type SearchParams,
  SearchService,
  type SearchServiceOptions,
  selectFaces,
} from './search.ts';
export { ModelAlias, type ServedModel } from './serving.ts';
