import {
  healthResponseSchema,
  type ModelListResponse,
  modelListResponseSchema,
  readyResponseSchema,
} from '@fever/schema';
import type { ApiContext } from '../context.ts';
import { Router } from '../openapi.ts';

/** /healthz, /readyz, /metrics and /models. */
export function healthRoutes(ctx: ApiContext): Router {
  const { metrics } = ctx;
  const { status } = ctx.services;
  const r = new Router('');

  r.add(
    {
      method: 'get',
      path: '/healthz',
      tag: 'operations',
      summary: 'Liveness: the process answers',
      auth: false,
      responses: { 200: { description: 'Up', schema: healthResponseSchema } },
    },
    (c) => c.json({ status: 'ok' as const }),
  );

  r.add(
    {
      method: 'get',
      path: '/readyz',
      tag: 'operations',
      summary: 'Readiness: database, vector store, queue and model reachable',
      auth: false,
      responses: {
        200: { description: 'Ready', schema: readyResponseSchema },
        503: { description: 'Not ready: the failing checks say why', schema: readyResponseSchema },
      },
    },
    async (c) => {
      const body = await status.readiness();
      return c.json(body, body.status === 'ready' ? 200 : 503);
    },
  );

  r.add(
    {
      method: 'get',
      path: '/metrics',
      tag: 'operations',
      summary: 'Prometheus metrics',
      description:
        'Request latency histograms by route, searches by kind and outcome, search and encoder time, ' +
        'face crops served, and the process metrics.',
      responses: { 200: { description: 'Prometheus text format', contentType: 'text/plain' } },
    },
    async (c) =>
      c.body(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType }),
  );

  r.add(
    {
      method: 'get',
      path: '/models',
      tag: 'operations',
      summary: 'Registered expression models; `active` is the one searches use (the one its alias points at)',
      responses: { 200: { description: 'Models', schema: modelListResponseSchema } },
    },
    async (c) => {
      const body: ModelListResponse = {
        models: (await status.models()).map((m) => ({
          id: m.id,
          version: m.version,
          dims: m.dims,
          labels: m.labels,
          createdAt: m.createdAt.toISOString(),
          active: m.active,
        })),
      };
      return c.json(body);
    },
  );
  return r;
}
