import { collectProcessMetrics, type IndexMetrics, LATENCY_BUCKETS } from '@fever/core';
import { Counter, Histogram, Registry } from 'prom-client';

/** Prometheus metrics of one app (its own registry, so several apps in one process never clash). */
export class ApiMetrics {
  readonly registry = new Registry();

  readonly httpDuration = new Histogram({
    name: 'fever_http_request_duration_seconds',
    help: 'HTTP request latency by route pattern, method and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly searches = new Counter({
    name: 'fever_searches_total',
    help: 'Searches by kind (image, face, vector) and outcome (ok, or the error code)',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly searchDuration = new Histogram({
    name: 'fever_search_duration_seconds',
    help: 'Search latency inside the API (decode + encode + vector search + hydrate) by kind',
    labelNames: ['kind'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly encoderDuration = new Histogram({
    name: 'fever_encoder_duration_seconds',
    help: 'Time spent on an uploaded example by stage: decode, or encode (detect + embed)',
    labelNames: ['stage'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly queryFaces = new Counter({
    name: 'fever_query_faces_total',
    help: 'Faces found in uploaded examples',
    registers: [this.registry],
  });

  readonly thumbnails = new Counter({
    name: 'fever_derived_images_total',
    help: 'Face crops and previews served, by kind and where they came from (memory, disk, rendered)',
    labelNames: ['kind', 'source'] as const,
    registers: [this.registry],
  });

  /** `indexing`: the runtime's indexing metrics (runs started through the API, the write stage it serves). */
  constructor(options: { defaultMetrics?: boolean; indexing?: IndexMetrics } = {}) {
    if (options.defaultMetrics !== false) collectProcessMetrics(this.registry);
    options.indexing?.register(this.registry);
  }

  /** Times `fn` as a search of `kind`, counting its outcome. */
  async timeSearch<T>(kind: 'image' | 'face' | 'vector', fn: () => Promise<T>): Promise<T> {
    const end = this.searchDuration.startTimer({ kind });
    try {
      const result = await fn();
      this.searches.inc({ kind, outcome: 'ok' });
      return result;
    } catch (err) {
      this.searches.inc({ kind, outcome: (err as { code?: string }).code ?? 'error' });
      throw err;
    } finally {
      end();
    }
  }
}
