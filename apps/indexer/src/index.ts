/**
 * @fever/indexer is the indexing worker process. The indexing service itself (startIndexRun,
 * waitForRun, stopIndexing, the stages, the runners) lives in @fever/core, so that the query API
 * and the CLI reach it without importing an app; it is re-exported here for convenience.
 */
export {
  type IndexRequest,
  type ServeOptions,
  type StartedRun,
  serveIndexQueues,
  startIndexRun,
  stopIndexing,
  waitForRun,
} from '@fever/core';
