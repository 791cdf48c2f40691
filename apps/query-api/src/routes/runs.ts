import type { RunView } from '@fever/core';
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

export function runRoutes(ctx: ApiContext): Router {
  const { runs } = ctx.services;
  const r = new Router('/runs');

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
      const run = await runs.start(req);
      return c.json(toResponse(run), 202, { Location: `runs/${run.id}` });
    },
  );

  r.add(
    {
      method: 'get',
      path: '/',
      tag: 'index runs',
      summary: 'Index runs, newest first',
      query: listQuery,
      responses: {
        200: { description: 'Runs', schema: indexRunListResponseSchema },
        404: { description: 'COLLECTION_NOT_FOUND: `collection` names no collection' },
      },
    },
    async (c) => {
      const q = parseQuery(c, listQuery);
      return c.json({ runs: (await runs.list(q)).map(toResponse) });
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
      return c.json(toResponse(await runs.get(id)));
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
      await runs.get(id);
      return streamSSE(c, async (stream) => {
        const aborted = new AbortController();
        stream.onAbort(() => aborted.abort());
        for await (const run of runs.follow(id, { signal: aborted.signal })) {
          await stream.writeSSE({
            event: 'run',
            data: JSON.stringify(toResponse(run)),
            id: String(Date.now()),
          });
        }
      });
    },
  );
  return r;
}

function toResponse(run: RunView): IndexRunResponse {
  return {
    id: run.id,
    collection: run.collection,
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
