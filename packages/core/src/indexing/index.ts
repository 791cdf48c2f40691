export { memberUri, splitMemberUri } from './archive-uri.ts';
export type { BullOptions, IndexQueues, IndexWorker, IndexWorkerOptions } from './bullmq.ts';
export { discover } from './discover.ts';
export { explainDriverCrashes, isPostgresWriteCrash } from './driver-guard.ts';
export { embedBatch } from './embed.ts';
export { finalizeRun, isRunDone } from './finalize.ts';
export { runInProcess } from './inprocess.ts';
export { loadRun } from './load-run.ts';
export {
  IndexMetrics,
  type JobOutcome,
  QUEUE_STATES,
  type QueueDepth,
  type QueueState,
} from './metrics.ts';
export { describeError, isTransient, withRetry } from './retry.ts';
export {
  DEFAULT_BATCH,
  DEFAULT_CONCURRENCY,
  type EmbedOutput,
  type EmbedResult,
  INDEX_MODES,
  type IndexMode,
  type RunInfo,
  type RunParams,
  STAGES,
  type Stage,
} from './run.ts';
export {
  activeRuns,
  type IndexRequest,
  type StartedRun,
  startIndexRun,
  startIndexWorker,
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
export { writeBatch } from './write.ts';
export { memberName, nextEntry, openMemberStream, openZip } from './zip.ts';
