export type { BullOptions, IndexQueues, IndexWorker, IndexWorkerOptions } from './bullmq.ts';
export {
  ensureVectorCollection,
  type IndexContext,
  type OpenIndexContextOptions,
  type OwnedIndexContext,
  openIndexContext,
} from './context.ts';
export { explainDriverCrashes, isPostgresWriteCrash } from './driver-guard.ts';
export { runInProcess } from './inprocess.ts';
export {
  IndexMetrics,
  type JobOutcome,
  QUEUE_STATES,
  type QueueDepth,
  type QueueState,
} from './metrics.ts';
export { describeError, isTransient, withRetry } from './retry.ts';
export {
  activeRuns,
  DEFAULT_BATCH,
  DEFAULT_CONCURRENCY,
  type IndexRequest,
  type StartedRun,
  startIndexRun,
  stopIndexing,
  type WaitOptions,
  waitForRun,
} from './service.ts';
export {
  describeSource,
  IMAGE_EXTENSIONS,
  isImageName,
  type SourceEntry,
  type SourceInfo,
  type SourceKind,
  walkSource,
} from './sources.ts';
export {
  discover,
  type EmbedOutput,
  type EmbedResult,
  embedBatch,
  finalizeRun,
  INDEX_MODES,
  type IndexMode,
  isRunDone,
  loadRun,
  type RunInfo,
  type RunParams,
  writeBatch,
} from './stages.ts';
export { type ServeOptions, STAGES, type Stage, serveIndexQueues, startIndexWorker } from './worker.ts';
export { memberName, nextEntry, openMemberStream, openZip } from './zip.ts';
