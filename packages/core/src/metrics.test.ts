import { createServer } from 'node:net';
import { Counter } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetricsRegistry, serveMetrics } from './metrics.ts';

describe('serveMetrics', () => {
  it('serves the registry on /metrics and /healthz, and nothing else', async () => {
    const registry = createMetricsRegistry();
    const jobs = new Counter({ name: 'fever_test_jobs_total', help: 'jobs', registers: [registry] });
    jobs.inc(3);
    const server = await serveMetrics(registry, { host: '127.0.0.1', port: 0 });
    try {
      const res = await fetch(`${server.url}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(registry.contentType);
      const text = await res.text();
      expect(text).toContain('fever_test_jobs_total 3');
      expect(text).toContain('fever_process_cpu_user_seconds_total');
      expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: 'ok' });
      const missing = await fetch(`${server.url}/other`);
      expect(missing.status).toBe(404);
      expect(await missing.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
      const post = await fetch(`${server.url}/metrics`, { method: 'POST' });
      expect(post.status).toBe(405);
    } finally {
      await server.close();
    }
    await expect(fetch(`${server.url}/metrics`)).rejects.toThrow();
  });

  it('says which port it cannot take', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      await expect(
        serveMetrics(createMetricsRegistry({ defaultMetrics: false }), { host: '127.0.0.1', port }),
      ).rejects.toMatchObject({
        code: 'METRICS_PORT_UNAVAILABLE',
        message: expect.stringContaining(String(port)),
      });
    } finally {
      taken.close();
    }
  });
});
