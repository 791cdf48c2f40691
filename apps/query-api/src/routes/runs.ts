import { isAbsolute } from 'node:path';
import { describeSource, startIndexRun } from '@fever/core';
import { FeverError, InputError, NotFoundError } from '@fever/errors';
import { confine, realRoots } from '@fever/files';
import type { IndexRun } from '@fever/metadata';
import {
  collectionNameSchema,
  type IndexRunResponse,
  indexRunListResponseSchema,
  indexRunResponseSchema,
  runStatusSchema,
  startIndexRunRequestSchema,
} from '@fever/schema';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import type { ApiContext } from '../context.ts';
import { parseWith } from '../errors.ts';
import { iso, parseParams, parseQuery } from '../http.ts';
import { Router } from '../openapi.ts';
import { readJson } from '../upload.ts';

const runIdParams = z.object({ id: z.uuid().describe('run id') });
const listQuery = z.strictObject({
  collection: collectionNameSchema.optional(),
  status: runStatusSchema.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);

export function runRoutes(ctx: ApiContext): Router {
  const { runtime } = ctx;
  const r = new Router('/runs');
  const names = new Map<number, string>();
  const collectionName = async (id: number) => {
    let name = names.get(id);
    if (name === undefined) {
      name = (await runtime.metadata.collections.getById(id))?.name;
      if (name !== undefined) names.set(id, name);
    }
    return name ?? null;
  };
  const respond = async (run: IndexRun) => toResponse(run, await collectionName(run.collectionId));

  r.add(
    {
      method: 'post',
      path: '/',
      tag: 'index runs',
      summary: 'Start indexing a server-side folder or archive',
      description:
        'The source must lie under one of the folders in FEVER_INDEX_ROOTS (403 otherwise; no roots → ' +
        'the API cannot start runs). Answers at once with the run; poll GET /runs/{id} or follow ' +
        'GET /runs/{id}/events for progress.',
      body: { schema: startIndexRunRequestSchema },
      responses: {
        202: { description: 'Started', schema: indexRunResponseSchema },
        403: { description: 'INDEX_RUNS_DISABLED or SOURCE_NOT_ALLOWED' },
      },
    },
    async (c) => {
      const req = parseWith(startIndexRunRequestSchema, await readJson(c), 'body');
      const source = await allowedSource(req.source, ctx.options.indexRoots);
      if (!(await runtime.metadata.collections.get(req.collection))) {
        if (!req.createCollection) {
          throw new NotFoundError('COLLECTION_NOT_FOUND', `collection '${req.collection}' does not exist`);
        }
        await runtime.metadata.collections.create({ name: req.collection }).catch((err: unknown) => {
          // Created meanwhile by another request: fine.
          if ((err as FeverError).code !== 'COLLECTION_EXISTS') throw err;
        });
      }
      // A list file names paths anywhere: the allow-list could not hold for its entries.
      if ((await describeSource(source)).kind === 'list') {
        throw new FeverError(
          'SOURCE_NOT_ALLOWED',
          'the API indexes folders, archives and images; a list of paths may name files outside FEVER_INDEX_ROOTS (use `fever index` for lists)',
          { status: 403 },
        );
      }
      const start = ctx.options.startIndexRun ?? startIndexRun;
      const { runId } = await start(runtime, {
        source,
        collection: req.collection,
        mode: req.mode,
        // Links met while indexing are followed only under the roots, too.
        within: await realRoots(ctx.options.indexRoots),
        ...(req.batch === undefined ? {} : { batch: req.batch }),
        ...(req.concurrency === undefined ? {} : { concurrency: req.concurrency }),
      });
      c.get('log').info({ runId, source, collection: req.collection }, 'index run started');
      const run = await runtime.metadata.indexRuns.require(runId);
      return c.json(await respond(run), 202, { Location: `runs/${runId}` });
    },
  );

  r.add(
    {
      method: 'get',
      path: '/',
      tag: 'index runs',
      summary: 'Index runs, newest first',
      query: listQuery,
      responses: { 200: { description: 'Runs', schema: indexRunListResponseSchema } },
    },
    async (c) => {
      const q = parseQuery(c, listQuery);
      const collection = q.collection ? await runtime.metadata.collections.require(q.collection) : undefined;
      const runs = await runtime.metadata.indexRuns.list({
        ...(collection ? { collectionId: collection.id } : {}),
        ...(q.status ? { status: q.status } : {}),
        limit: q.limit,
      });
      return c.json({ runs: await Promise.all(runs.map(respond)) });
    },
  );

  r.add(
    {
      method: 'get',
      path: '/:id',
      tag: 'index runs',
      summary: 'One index run: status, counts, timings',
      params: runIdParams,
      responses: { 200: { description: 'The run', schema: indexRunResponseSchema } },
    },
    async (c) => {
      const { id } = parseParams(c, runIdParams);
      return c.json(await respond(await runtime.metadata.indexRuns.require(id)));
    },
  );

  r.add(
    {
      method: 'get',
      path: '/:id/events',
      tag: 'index runs',
      summary: 'Progress as server-sent events',
      description:
        "A `run` event with the run (as GET /runs/{id}) whenever it changes, checked every second, until it's finished.",
      params: runIdParams,
      responses: { 200: { description: 'Event stream', contentType: 'text/event-stream' } },
    },
    async (c) => {
      const { id } = parseParams(c, runIdParams);
      await runtime.metadata.indexRuns.require(id);
      return streamSSE(c, async (stream) => {
        let last = '';
        let aborted = false;
        stream.onAbort(() => {
          aborted = true;
        });
        while (!aborted) {
          const run = await respond(await runtime.metadata.indexRuns.require(id));
          const data = JSON.stringify(run);
          if (data !== last) {
            await stream.writeSSE({ event: 'run', data, id: String(Date.now()) });
            last = data;
          }
          if (FINISHED.has(run.status)) break;
          await stream.sleep(1000);
        }
      });
    },
  );
  return r;
}

export function toResponse(run: IndexRun, collection: string | null): IndexRunResponse {
  return {
    id: run.id,
    collection,
    model: { id: run.modelId, version: run.modelVersion },
    status: run.status,
    source: run.source,
    params: run.params,
    counts: {
      imagesSeen: run.imagesSeen,
      imagesIndexed: run.imagesIndexed,
      imagesSkipped: run.imagesSkipped,
      imagesFailed: run.imagesFailed,
      facesIndexed: run.facesIndexed,
    },
    timingsMs: { decode: run.decodeMs, detect: run.detectMs, embed: run.embedMs, write: run.writeMs },
    error: run.errorCode ? { code: run.errorCode, message: run.errorMessage ?? '' } : null,
    createdAt: run.createdAt.toISOString(),
    startedAt: iso(run.startedAt),
    finishedAt: iso(run.finishedAt),
  };
}

/**
 * The real path of `source` when it leads (links resolved) under one of `roots`, else 403.
 * Whether a path outside the roots exists is never revealed: it is refused before that is asked.
 */
export async function allowedSource(source: string, roots: readonly string[]): Promise<string> {
  if (roots.length === 0) {
    throw new FeverError(
      'INDEX_RUNS_DISABLED',
      'this server starts no index runs: set FEVER_INDEX_ROOTS to the folders it may index',
      { status: 403 },
    );
  }
  if (!isAbsolute(source))
    throw new InputError('INVALID_SOURCE', `source must be an absolute path, got '${source}'`);
  const confined = await confine(source, await realRoots(roots));
  if (confined.ok) return confined.real;
  if (confined.reason === 'missing') {
    throw new NotFoundError('SOURCE_NOT_FOUND', `source '${source}' does not exist`);
  }
  throw new FeverError('SOURCE_NOT_ALLOWED', `source '${source}' is not under any of FEVER_INDEX_ROOTS`, {
    status: 403,
  });
}
