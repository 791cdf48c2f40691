/**
 * The indexing worker process: serves the BullMQ index queues on REDIS_URL (metadata on
 * DATABASE_URL) until SIGTERM/SIGINT, then drains and exits. Equivalent to `fever worker`.
 *
 *   node --import tsx apps/indexer/src/main.ts [--concurrency N] [--stages discover,embed,write]
 *     [--metrics-port P]   (Prometheus metrics; default FEVER_WORKER_METRICS_PORT, else none)
 */
import { parseArgs } from 'node:util';
import { createLogger, STAGES, type Stage, serveIndexQueues } from '@fever/core';
import { isFeverError } from '@fever/errors';
import { parseConfig } from '@fever/schema';

try {
  const { values } = parseArgs({
    options: {
      concurrency: { type: 'string' },
      stages: { type: 'string' },
      'metrics-port': { type: 'string' },
    },
    strict: true,
  });
  const config = parseConfig();
  const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1)) {
    throw new Error(`--concurrency must be a whole number ≥ 1, got '${values.concurrency}'`);
  }
  const metricsPort = values['metrics-port'] === undefined ? undefined : Number(values['metrics-port']);
  if (
    metricsPort !== undefined &&
    !(Number.isInteger(metricsPort) && metricsPort >= 0 && metricsPort <= 65535)
  ) {
    throw new Error(`--metrics-port must be a whole number from 0 to 65535, got '${values['metrics-port']}'`);
  }
  const stages = values.stages?.split(',').map((s) => s.trim()) as Stage[] | undefined;
  const bad = stages?.find((s) => !STAGES.includes(s));
  if (bad) throw new Error(`--stages takes ${STAGES.join(', ')}, got '${bad}'`);
  await serveIndexQueues(config, {
    logger: createLogger(config.logLevel, { role: 'indexer' }),
    ...(concurrency === undefined ? {} : { concurrency }),
    ...(stages ? { stages } : {}),
    ...(metricsPort === undefined ? {} : { metricsPort }),
  });
} catch (err) {
  console.error(isFeverError(err) ? `fever-indexer: ${err.message} [${err.code}]` : err);
  process.exitCode = 1;
}
