/**
 * Prometheus metrics of indexing. The stages record them (so the in-process runner and the BullMQ
 * workers record the same series), the job wrappers of both runners count jobs, and a BullMQ
 * worker reads the queue depth from Redis at scrape time. The metrics belong to no registry until
 * an app registers them in its own (`fever worker` serves its registry on
 * FEVER_WORKER_METRICS_PORT; the API adds them to its `/metrics`).
 */
import type { EntryResult } from '@fever/metadata';
import { Counter, Gauge, Histogram, type Metric, type Registry } from 'prom-client';
import { BATCH_BUCKETS, LATENCY_BUCKETS } from '../metrics.ts';
import type { Stage } from './run.ts';

export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];
export type QueueDepth = Record<Stage, Record<QueueState, number>>;

/**
 * completed; retried (failed, BullMQ tries it again later); failed (for good: the run fails);
 * handed_back (a discovery walk given back to the queue by a worker shutting down).
 */
export type JobOutcome = 'completed' | 'retried' | 'failed' | 'handed_back';

/** A scrape must answer even while Redis is down: the queue depth is left out then. */
const QUEUE_READ_TIMEOUT_MS = 2_000;

export class IndexMetrics {
  readonly jobs = new Counter({
    name: 'fever_index_jobs_total',
    help:
      'Index jobs processed by this process, by stage (discover, embed, write) and outcome: completed, ' +
      'retried (failed and tried again later), failed (for good), handed_back (a walk given back on shutdown)',
    labelNames: ['stage', 'outcome'] as const,
    registers: [],
  });

  readonly jobFailures = new Counter({
    name: 'fever_index_job_failures_total',
    help: 'Failed attempts of index jobs by stage and error code (DEPENDENCY_UNAVAILABLE, …), retried ones included',
    labelNames: ['stage', 'code'] as const,
    registers: [],
  });

  readonly images = new Counter({
    name: 'fever_index_images_total',
    help:
      'Images given their outcome by this process: indexed, skipped (already embedded, or the same ' +
      'content as another entry), failed (unusable input, by code in fever_index_image_failures_total)',
    labelNames: ['outcome'] as const,
    registers: [],
  });

  readonly imageFailures = new Counter({
    name: 'fever_index_image_failures_total',
    help: 'Images recorded as failed, by error code (IMAGE_TRUNCATED, IMAGE_NOT_FOUND, …)',
    labelNames: ['code'] as const,
    registers: [],
  });

  readonly faces = new Counter({
    name: 'fever_index_faces_total',
    help: 'Faces written to the vector store and the metadata by this process',
    registers: [],
  });

  readonly encoderDuration = new Histogram({
    name: 'fever_index_encoder_duration_seconds',
    help:
      'Embed stage time per batch by step: read (file bytes and sha256), decode (to pixels), ' +
      'encode (face detection and expression embedding of the whole batch)',
    labelNames: ['step'] as const,
    buckets: BATCH_BUCKETS,
    registers: [],
  });

  readonly vectorStoreDuration = new Histogram({
    name: 'fever_index_vector_store_duration_seconds',
    help: 'Vector store calls of the write stage by operation (upsert, delete), one observation per attempt',
    labelNames: ['op'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [],
  });

  readonly metadataWriteDuration = new Histogram({
    name: 'fever_index_metadata_write_duration_seconds',
    help:
      'Metadata writes by operation, one observation per attempt: ledger (entries a walk discovered), ' +
      'images (image rows of an embed batch), record (the write stage transaction of a batch)',
    labelNames: ['op'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [],
  });

  readonly queueJobs: Gauge<'stage' | 'state'>;

  private readDepth: (() => Promise<QueueDepth>) | undefined;

  constructor(registry?: Registry) {
    const self = this;
    this.queueJobs = new Gauge({
      name: 'fever_index_queue_jobs',
      help:
        'Jobs in the BullMQ queues by stage and state (waiting, active, delayed, failed), read from Redis ' +
        'when scraped: the same in every worker of a deployment; absent while Redis cannot be read',
      labelNames: ['stage', 'state'] as const,
      registers: [],
      async collect() {
        this.reset();
        const read = self.readDepth;
        if (!read) return;
        const depth = await withTimeout(read(), QUEUE_READ_TIMEOUT_MS).catch(() => undefined);
        if (!depth) return;
        for (const [stage, counts] of Object.entries(depth)) {
          for (const state of QUEUE_STATES) this.set({ stage, state }, counts[state]);
        }
      },
    });
    if (registry) this.register(registry);
  }

  /** Adds these metrics to `registry` (a metric may belong to several). */
  register(registry: Registry): void {
    const metrics: Metric<string>[] = [
      this.jobs,
      this.jobFailures,
      this.images,
      this.imageFailures,
      this.faces,
      this.encoderDuration,
      this.vectorStoreDuration,
      this.metadataWriteDuration,
      this.queueJobs,
    ];
    for (const metric of metrics) registry.registerMetric(metric);
  }

  /** Reads the queue depth from `read` on every scrape until the returned function is called. */
  watchQueues(read: () => Promise<QueueDepth>): () => void {
    this.readDepth = read;
    return () => {
      if (this.readDepth === read) this.readDepth = undefined;
    };
  }

  /** Counts one job of `stage`; a failed attempt also by its error code. */
  job(stage: Stage, outcome: JobOutcome, errorCode?: string): void {
    this.jobs.inc({ stage, outcome });
    if (errorCode !== undefined) this.jobFailures.inc({ stage, code: errorCode });
  }

  /** Counts the entries a write recorded; `moved` names those recorded by this call (not before). */
  recorded(entries: readonly EntryResult[], moved: readonly string[]): void {
    const fresh = new Set(moved);
    let faces = 0;
    for (const e of entries) {
      if (!fresh.has(e.uri)) continue;
      this.images.inc({ outcome: e.outcome });
      if (e.outcome === 'failed') this.imageFailures.inc({ code: e.errorCode });
      if (e.outcome === 'indexed') faces += e.faces.length;
    }
    if (faces > 0) this.faces.inc(faces);
  }
}

/** Runs `fn`, observing its duration in `histogram` (when there is one), failed attempts too. */
export async function timed<L extends string, T>(
  histogram: Histogram<L> | undefined,
  labels: Partial<Record<L, string>>,
  fn: () => Promise<T>,
): Promise<T> {
  if (!histogram) return fn();
  const end = histogram.startTimer(labels);
  try {
    return await fn();
  } finally {
    end();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]);
}
