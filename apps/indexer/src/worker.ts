/**
 * The worker process: serves the BullMQ index queues on REDIS_URL (metadata on DATABASE_URL) until
 * SIGTERM or SIGINT, then stops taking jobs, lets running jobs finish (a discovery walk is handed
 * back to the queue) and closes, the metrics endpoint last. A second signal exits at once.
 * `fever worker` runs it.
 */
import {
  createLogger,
  createMetricsRegistry,
  explainDriverCrashes,
  IndexMetrics,
  type IndexWorkerOptions,
  type Logger,
  type MetricsServer,
  openRuntime,
  serveMetrics,
  startIndexWorker,
} from '@fever/core';
import type { EncoderOptions } from '@fever/encoder';
import { ConfigError } from '@fever/errors';
import type { Config } from '@fever/schema';

export interface WorkerOptions extends IndexWorkerOptions {
  logger?: Logger;
  encoder?: Partial<EncoderOptions>;
  /** Port of the Prometheus endpoint; default FEVER_WORKER_METRICS_PORT (unset → none, 0 → any free). */
  metricsPort?: number;
}

/** Exit code after a second signal: the jobs in hand were not waited for. */
const FORCED_EXIT = 130;
/** How long a cleanly stopped worker waits for a client a library left open before it exits. */
const LINGER_MS = 5_000;

export async function runWorker(config: Config, options: WorkerOptions = {}): Promise<void> {
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
  const runtime = await openRuntime(config, {
    logger: options.logger ?? createLogger(config, { role: 'worker' }),
    encoder: options.encoder,
    // Only a writer opens the embedded vector store: a worker that never writes must not hold
    // it from the process that does (the API, or a worker serving the write stage).
    vectors: !options.stages || options.stages.includes('write') ? 'try' : 'none',
    metrics: new IndexMetrics(registry),
  });
  const { logger } = runtime;
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
    const model = await runtime.model();
    const worker = await startIndexWorker(runtime, options);
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
      process.exit(FORCED_EXIT);
    };
    process.once('SIGTERM', force);
    process.once('SIGINT', force);
    await worker.close();
    logger.info('worker stopped cleanly');
  } finally {
    unwatch();
    await metricsServer?.close();
    await runtime.close();
    // Everything is closed: a client left reconnecting by a library (see IndexWorker.close) must
    // not keep the process alive. Unref'd, so it fires only if something does.
    setTimeout(() => {
      logger.warn('a connection kept the process alive after a clean stop: exiting');
      process.exit();
    }, LINGER_MS).unref();
  }
}
