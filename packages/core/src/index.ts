export { allowedSource } from './access.ts';
export {
  type CollectionDetail,
  CollectionService,
  type DeletedCollection,
  getOrCreateCollection,
} from './collections.ts';
export { type EvalProgress, EvalRunService, type EvalRunView } from './eval-runs.ts';
export { type ImageDetail, ImageService } from './images.ts';
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
export {
  type ClusteringResult,
  type ClusterRequest,
  identityUnavailable,
  PeopleService,
  type PersonDetail,
  type PersonSummary,
} from './people.ts';
export { pingRedis, probeRedis, type RedisProbe, RedisProbeError } from './redis-probe.ts';
export {
  RunService,
  type RunServiceOptions,
  type RunView,
  type StartIndexRun,
  type StartRunRequest,
} from './runs.ts';
export {
  openRuntime,
  type Runtime,
  type RuntimeOptions,
  type ServingRuntime,
  vectorStoreConfig,
} from './runtime.ts';
export {
  FOLD_SIMILARITY,
  type ImageSearchResult,
  PERSON_OTHER_DISTANCE,
  type PersonMode,
  type QueryIdentity,
  type SearchParams,
  SearchService,
  type SearchServiceOptions,
  selectFaces,
} from './search.ts';
export { createServices, type Services, type ServicesOptions } from './services.ts';
export { ModelAlias, type ServedModel } from './serving.ts';
export { StatusService } from './status.ts';
