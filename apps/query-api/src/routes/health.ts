import { pingRedis, type ServingRuntime } from '@fever/core';
import {
  healthResponseSchema,
  type ModelListResponse,
  modelListResponseSchema,
  type ReadyResponse,
  readyResponseSchema,
} from '@fever/schema';
import type { ApiContext } from '../context.ts';
import { Router } from '../openapi.ts';

const CHECK_TIMEOUT_MS = 2000;

/** /healthz, /readyz, /metrics and /models. */
export function healthRoutes(ctx: ApiContext): Router {
  const { runtime, metrics } = ctx;
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
      const body = await readiness(runtime);
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
      const active = await runtime.serving.model();
      const body: ModelListResponse = {
        models: (await runtime.metadata.models.list()).map((m) => ({
          id: m.id,
          version: m.version,
          dims: m.dims,
          labels: m.labels,
          createdAt: m.createdAt.toISOString(),
          active: m.id === active.id && m.version === active.version,
        })),
      };
      return c.json(body);
    },
  );
  return r;
}

async function check(
  fn: () => Promise<string | undefined>,
): Promise<{ ok: boolean; ms: number; detail?: string }> {
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const detail = await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
    return { ok: true, ms: Math.round(performance.now() - start), ...(detail ? { detail } : {}) };
  } catch (err) {
    return { ok: false, ms: Math.round(performance.now() - start), detail: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

export async function readiness(runtime: ServingRuntime): Promise<ReadyResponse> {
  const [metadata, vectors, queue, model] = await Promise.all([
    check(async () => {
      await runtime.metadata.ping();
      return runtime.mode.metadata;
    }),
    check(async () => {
      await runtime.vectors.listAliases();
      return runtime.mode.vectors;
    }),
    check(async () => {
      if (!runtime.config.redisUrl) return 'in-process';
      await pingRedis(runtime.config.redisUrl, CHECK_TIMEOUT_MS);
      return 'redis';
    }),
    check(async () => {
      // The version searches answer with, its encoder loaded.
      return runtime.serving.use(async ({ model, encoder }) => {
        await encoder();
        return `${model.id}@${model.version}`;
      });
    }),
  ]);
  const checks = { metadata, vectors, queue, model };
  const ready = Object.values(checks).every((x) => x.ok);
  return { status: ready ? 'ready' : 'unavailable', mode: runtime.mode, checks };
}
