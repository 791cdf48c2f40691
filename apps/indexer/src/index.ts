/**
 * @fever/indexer is the indexing worker process (`fever worker`): runWorker() serves the BullMQ
 * index queues until a signal, with its metrics endpoint and a graceful close. The indexing
 * itself (the stages, both runners, startIndexRun) lives in @fever/core, where the API and the
 * CLI reach it too.
 */
export { runWorker, type WorkerOptions } from './worker.ts';
