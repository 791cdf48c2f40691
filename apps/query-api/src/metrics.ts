import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

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

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics !== false)
      collectDefaultMetrics({ register: this.registry, prefix: 'fever_' });
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
