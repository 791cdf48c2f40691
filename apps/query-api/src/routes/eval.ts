import { FeverError, InputError, isFeverError } from '@fever/errors';
import { processTag, realRoots } from '@fever/files';
import type { EvalRun } from '@fever/metadata';
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
import { allowedSource } from './runs.ts';

const runIdParams = z.object({ id: z.uuid().describe('eval run id') });
const listQuery = z.strictObject({
  status: runStatusSchema.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

type Progress = { phase: string; done: number; total: number };

/**
 * FEC evaluations of the server's model, run in this process one at a time (they are CPU-bound),
 * stored in eval_runs: params, headline metrics, and the full result as the report.
 */
export function evalRoutes(ctx: ApiContext): Router {
  const { runtime } = ctx;
  const r = new Router('/eval');
  const progress = new Map<string, Progress>();
  let queue: Promise<void> = Promise.resolve();

  const respond = (run: EvalRun): EvalRunResponse => ({
    id: run.id,
    model: { id: run.modelId, version: run.modelVersion },
    status: run.status,
    params: run.params,
    metrics: run.metrics,
    progress: progress.get(run.id) ?? null,
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
      const roots = ctx.options.indexRoots;
      const triplets = await allowedSource(req.triplets, roots);
      if (req.images === undefined && req.map === undefined) {
        throw new InputError(
          'IMAGES_SOURCE_MISSING',
          'give `images` (a folder of the images) or `map` (a url,path CSV), or both',
        );
      }
      const images = req.images === undefined ? undefined : await allowedSource(req.images, roots);
      const map = req.map === undefined ? undefined : await allowedSource(req.map, roots);
      const within = await realRoots(roots);
      const model = await runtime.model();
      const params = { ...req, triplets, images, map };
      const run = await runtime.metadata.evalRuns.create({
        modelId: model.id,
        modelVersion: model.version,
        // The runner names this process: a run it leaves unfinished is failed when fever next starts.
        params: { kind: 'fec', ...params, runner: processTag() },
      });
      const log = c.get('log');
      log.info({ evalRunId: run.id, triplets }, 'eval run queued');
      queue = queue.then(async () => {
        try {
          await runtime.metadata.evalRuns.update(run.id, { status: 'running' });
          const { runFecEval } = await import('@fever/eval');
          const result = await runFecEval({
            triplets,
            ...(images ? { images } : {}),
            ...(map ? { map } : {}),
            within,
            models: [runtime.config.modelManifest],
            ...(req.distance ? { distance: req.distance } : {}),
            ...(req.outputs ? { outputs: req.outputs } : {}),
            ...(req.bootstrapSamples === undefined ? {} : { bootstrapSamples: req.bootstrapSamples }),
            ...(req.seed === undefined ? {} : { seed: req.seed }),
            ...(req.gallerySize === undefined ? {} : { gallerySize: req.gallerySize }),
            maxPixels: runtime.config.maxPixels,
            encoder: { device: runtime.config.device, threads: runtime.config.threads ?? 0 },
            onProgress: (p) => progress.set(run.id, { phase: p.phase, done: p.done, total: p.total }),
          });
          await runtime.metadata.evalRuns.update(run.id, {
            status: 'succeeded',
            metrics: result.metrics as unknown as Record<string, unknown>,
            report: result as unknown as Record<string, unknown>,
          });
          log.info({ evalRunId: run.id, ms: result.timings.totalMs }, 'eval run succeeded');
        } catch (err) {
          log.error({ err, evalRunId: run.id }, 'eval run failed');
          await runtime.metadata.evalRuns
            .update(run.id, {
              status: 'failed',
              errorCode: isFeverError(err) ? err.code : 'EVAL_FAILED',
              errorMessage: (err as Error).message,
            })
            .catch((e: unknown) => log.error({ err: e }, 'could not record the eval failure'));
        } finally {
          progress.delete(run.id);
        }
      });
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
      const runs = await runtime.metadata.evalRuns.list({
        ...(q.status ? { status: q.status } : {}),
        limit: q.limit,
      });
      return c.json({ runs: runs.map(respond) });
    },
  );

  const requireRun = async (id: string) => {
    const run = await runtime.metadata.evalRuns.get(id);
    if (!run) throw new FeverError('EVAL_RUN_NOT_FOUND', `eval run ${id} does not exist`, { status: 404 });
    return run;
  };

  r.add(
    {
      method: 'get',
      path: '/runs/:id',
      tag: 'evaluation',
      summary: 'One eval run: status, progress, metrics',
      params: runIdParams,
      responses: { 200: { description: 'The run', schema: evalRunResponseSchema } },
    },
    async (c) => c.json(respond(await requireRun(parseParams(c, runIdParams).id))),
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
      const run = await requireRun(parseParams(c, runIdParams).id);
      if (run.status !== 'succeeded' || !run.report) {
        throw new FeverError(
          'EVAL_RUN_NOT_FINISHED',
          `eval run ${run.id} is ${run.status}; its report exists once it has succeeded`,
          { status: 409 },
        );
      }
      const { renderReportHtml } = await import('@fever/eval');
      const html = renderReportHtml(run.report as unknown as Parameters<typeof renderReportHtml>[0]);
      return c.html(html, 200, {
        'Content-Security-Policy':
          "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'unsafe-inline'",
        'Cache-Control': 'private, max-age=3600',
      });
    },
  );
  return r;
}
