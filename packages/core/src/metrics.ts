/**
 * Prometheus plumbing shared by the query API and the indexing workers. Each app keeps its own
 * Registry (two apps in one process, as in tests, never clash over a metric name); this module
 * only makes them alike: the same process metrics, the same latency buckets, and, for processes
 * without an HTTP API of their own (workers), a small `/metrics` server.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '@fever/errors';
import { collectDefaultMetrics, Registry } from 'prom-client';

/** Seconds, 1 ms … 10 s: requests and calls to a store. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Seconds, 10 ms … 2 min: work on a whole batch of photos (decoding, detecting and embedding it on a CPU). */
export const BATCH_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** Adds the process metrics (CPU, memory, event loop lag, GC) to `registry`, as `fever_*`. */
export function collectProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry, prefix: 'fever_' });
}

/** A new registry, with the process metrics unless turned off. */
export function createMetricsRegistry(options: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectProcessMetrics(registry);
  return registry;
}

export interface MetricsServer {
  /** `http://host:port` as bound (the real port when 0 was asked for). */
  url: string;
  port: number;
  /** Stops listening and closes open scrape connections. */
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` (Prometheus text format) and `GET /healthz` for `registry` on host:port
 * (port 0: any free one). Throws ConfigError METRICS_PORT_UNAVAILABLE when it cannot listen.
 */
export async function serveMetrics(
  registry: Registry,
  listen: { host: string; port: number },
): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, body: string, type: string) => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const error = (status: number, code: string, message: string) =>
      reply(status, `${JSON.stringify({ error: { code, message } })}\n`, 'application/json');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      error(405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed here: GET /metrics`);
    } else if (path === '/metrics') {
      registry.metrics().then(
        (body) => reply(200, body, registry.contentType),
        (err: unknown) =>
          error(500, 'METRICS_FAILED', `collecting metrics failed: ${(err as Error).message}`),
      );
    } else if (path === '/healthz') {
      reply(200, '{"status":"ok"}\n', 'application/json');
    } else {
      error(404, 'NOT_FOUND', `no route ${path}: this server has GET /metrics and GET /healthz`);
    }
  });
  // Scrapers hold idle connections; they must not keep a shutdown waiting.
  server.keepAliveTimeout = 5_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(
        new ConfigError(
          'METRICS_PORT_UNAVAILABLE',
          `cannot serve metrics on ${listen.host}:${listen.port}: ${err.message}`,
          { cause: err },
        ),
      ),
    );
    server.listen(listen.port, listen.host, () => resolve());
  });
  server.removeAllListeners('error');
  server.on('error', () => {}); // after listening, a socket error concerns one scrape only
  const { port } = server.address() as AddressInfo;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
