import type { EvalRunView } from '@fever/core';
import {
  type EvalRunResponse,
  evalRunListResponseSchema,
  evalRunResponseSchema,
  runStatusSchema,
  startFecEvalRequestSchema,
} from '@fever/schema';
import { z } from 'zod';
import type { ApiContext } from '../context.ts';
import { parseWith } from '../errors.ts';
import { iso, parseParams, parseQuery } from '../http.ts';
import { Router } from '../openapi.ts';
import { readJson } from '../upload.ts';

const runIdParams = z.object({ id: z.uuid().describe('eval run id') });
const listQuery = z.strictObject({
  status: runStatusSchema.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

/** FEC evaluations of the server's model (@fever/core's EvalRunService runs them, one at a time). */
export function evalRoutes(ctx: ApiContext): Router {
  const { evals } = ctx.services;
  const r = new Router('/eval');

  const respond = (run: EvalRunView): EvalRunResponse => ({
    id: run.id,
    model: { id: run.modelId, version: run.modelVersion },
    status: run.status,
    params: run.params,
    metrics: run.metrics,
    progress: run.progress,
    error: run.errorCode ? { code: run.errorCode, message: run.errorMessage ?? '' } : null,
    createdAt: run.createdAt.toISOString(),
    startedAt: iso(run.startedAt),
    finishedAt: iso(run.finishedAt),
    urls: { self: `eval/runs/${run.id}`, report: `eval/runs/${run.id}/report.html` },
  });

  r.add(
    {
      method: 'post',
      path: '/fec',
      tag: 'evaluation',
      summary: "Start an FEC triplet-agreement evaluation of the server's model",
      description:
        'Paths are on the server, under FEVER_INDEX_ROOTS. Answers at once; the run executes in the ' +
        'background (one at a time) — poll GET /eval/runs/{id}, then read its report.html.',
      body: { schema: startFecEvalRequestSchema },
      responses: {
        202: { description: 'Queued', schema: evalRunResponseSchema },
        400: { description: 'IMAGES_SOURCE_MISSING: neither images nor map' },
        403: { description: 'INDEX_RUNS_DISABLED or SOURCE_NOT_ALLOWED' },
      },
    },
    async (c) => {
      const req = parseWith(startFecEvalRequestSchema, await readJson(c), 'body');
      const run = await evals.start(req);
      return c.json(respond(run), 202, { Location: `eval/runs/${run.id}` });
    },
  );

  r.add(
    {
      method: 'get',
      path: '/runs',
      tag: 'evaluation',
      summary: 'Eval runs, newest first',
      query: listQuery,
      responses: { 200: { description: 'Runs', schema: evalRunListResponseSchema } },
    },
    async (c) => {
      const q = parseQuery(c, listQuery);
      return c.json({ runs: (await evals.list(q)).map(respond) });
    },
  );

  r.add(
    {
      method: 'get',
      path: '/runs/:id',
      tag: 'evaluation',
      summary: 'One eval run: status, progress, metrics',
      params: runIdParams,
      responses: { 200: { description: 'The run', schema: evalRunResponseSchema } },
    },
    async (c) => c.json(respond(await evals.get(parseParams(c, runIdParams).id))),
  );

  r.add(
    {
      method: 'get',
      path: '/runs/:id/report.html',
      tag: 'evaluation',
      summary: 'The HTML report of a finished eval run',
      params: runIdParams,
      responses: {
        200: { description: 'Self-contained HTML', contentType: 'text/html' },
        409: { description: 'EVAL_RUN_NOT_FINISHED' },
      },
    },
    async (c) => {
      const html = await evals.report(parseParams(c, runIdParams).id);
      return c.html(html, 200, {
        'Content-Security-Policy':
          "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'unsafe-inline'",
        'Cache-Control': 'private, max-age=3600',
      });
    },
  );
  return r;
}
