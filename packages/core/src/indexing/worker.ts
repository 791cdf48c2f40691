import type { EncoderOptions } from '@fever/encoder';
import { ConfigError } from '@fever/errors';
import type { Config } from '@fever/schema';
import type { Logger } from '../logger.ts';
import { createMetricsRegistry, type MetricsServer, serveMetrics } from '../metrics.ts';
import type { IndexWorker, IndexWorkerOptions } from './bullmq.ts';
import { type IndexContext, type OwnedIndexContext, openIndexContext } from './context.ts';
import { explainDriverCrashes } from './driver-guard.ts';
import { IndexMetrics } from './metrics.ts';

export const STAGES = ['discover', 'embed', 'write'] as const;
export type Stage = (typeof STAGES)[number];

/**
 * Serves the BullMQ index queues in this process until close() (see bullmq.ts). bullmq and
 * ioredis are loaded here, on first use, so that processes without a queue never load them.
 */
export async function startIndexWorker(
  ctx: IndexContext | OwnedIndexContext,
  options: IndexWorkerOptions = {},
): Promise<IndexWorker> {
  const { startIndexWorker: start } = await import('./bullmq.ts');
  return start(ctx, options);
}

export interface ServeOptions extends IndexWorkerOptions {
  logger?: Logger;
  encoder?: Partial<EncoderOptions>;
  /** Port of the Prometheus endpoint; default FEVER_WORKER_METRICS_PORT (unset → none, 0 → any free). */
  metricsPort?: number;
}

/**
 * A worker process's life: opens metadata (and the vector store where it can), serves the queues
 * (and its metrics on `/metrics`, when a port is set) until SIGTERM or SIGINT, then stops taking
 * jobs, lets running jobs finish (a discovery walk is handed back to the queue) and closes, the
 * metrics endpoint last. A second signal exits at once. Used by `fever worker` and by apps/indexer.
 */
export async function serveIndexQueues(config: Config, options: ServeOptions = {}): Promise<void> {
  if (!config.redisUrl) {
    throw new ConfigError(
      'WORKER_NEEDS_REDIS',
      'a worker serves the BullMQ queues: set REDIS_URL (without it, `fever index` does all the work in its own process)',
    );
  }
  if (!config.databaseUrl) {
    throw new ConfigError(
      'QUEUE_NEEDS_POSTGRES',
      'workers share their runs through Postgres: set DATABASE_URL (the embedded database serves a single process)',
    );
  }
  const registry = createMetricsRegistry();
  const ctx = await openIndexContext(config, {
    logger: options.logger,
    encoder: options.encoder,
    // Only a writer opens the embedded vector store: a worker that never writes must not hold
    // it from the process that does (the API, or a worker serving the write stage).
    vectors: !options.stages || options.stages.includes('write') ? 'try' : 'none',
    metrics: new IndexMetrics(registry),
  });
  const { logger } = ctx;
  const unwatch = explainDriverCrashes(logger, 'restart the worker: its jobs are retried and counted once');
  let metricsServer: MetricsServer | undefined;
  try {
    // Before the models load: a port already taken stops the worker before it takes any job.
    const metricsPort = options.metricsPort ?? config.workerMetricsPort;
    if (metricsPort !== undefined) {
      metricsServer = await serveMetrics(registry, { host: config.host, port: metricsPort });
      logger.info({ url: `${metricsServer.url}/metrics` }, `metrics on ${metricsServer.url}/metrics`);
    }
    // Load the models before taking jobs, so the first job does not pay for it under its lock.
    const model = await ctx.model();
    const worker = await startIndexWorker(ctx, options);
    logger.info(
      {
        model: `${model.id}@${model.version}`,
        stages: worker.stages(),
        prefix: worker.queues.prefix,
        pid: process.pid,
        ...(metricsServer ? { metrics: `${metricsServer.url}/metrics` } : {}),
      },
      'worker ready',
    );
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    logger.info({ signal }, 'stopping: finishing the jobs in hand (a second signal exits at once)');
    const force = () => {
      logger.warn('second signal: exiting without waiting');
      process.exit(130);
    };
    process.once('SIGTERM', force);
    process.once('SIGINT', force);
    await worker.close();
    logger.info('worker stopped cleanly');
  } finally {
    unwatch();
    await metricsServer?.close();
    await ctx.close();
    // Everything is closed: a client left reconnecting by a library (see IndexWorker.close) must
    // not keep the process alive. Unref'd, so it fires only if something does.
    setTimeout(() => {
      logger.warn('a connection kept the process alive after a clean stop: exiting');
      process.exit();
    }, 5_000).unref();
  }
}
