import {
  type SearchResponse,
  searchImageQuerySchema,
  searchResponseSchema,
  type VectorSearchResponse,
  vectorSearchRequestSchema,
  vectorSearchResponseSchema,
} from '@fever/schema';
import type { ApiContext } from '../context.ts';
import { parseWith } from '../errors.ts';
import { filterOf, parseQuery, personOptionsOf, since, withUrls } from '../http.ts';
import { Router } from '../openapi.ts';
import { readImageUpload, readJson } from '../upload.ts';

const IMAGE_CONTENT = {
  'multipart/form-data': {
    schema: {
      type: 'object',
      properties: { image: { type: 'string', format: 'binary', description: 'the example photo' } },
      required: ['image'],
    },
  },
  'image/*': { schema: { type: 'string', format: 'binary' } },
};

export function searchRoutes(ctx: ApiContext): Router {
  const { metrics } = ctx;
  const { search } = ctx.services;
  const r = new Router('/search');

  r.add(
    {
      method: 'post',
      path: '/',
      tag: 'search',
      summary: 'Search by an example photo',
      description:
        'Detects the faces in the photo, picks one (`face=largest`, an index, or `all` for one result list ' +
        'per face) and returns the k most similar indexed faces. The photo itself, when indexed, is never ' +
        'among the results. Formats: JPEG, PNG, WebP, GIF, TIFF, AVIF.',
      query: searchImageQuerySchema,
      body: { content: IMAGE_CONTENT, description: 'The example photo' },
      responses: {
        200: { description: 'The faces found and their neighbours', schema: searchResponseSchema },
        404: { description: 'COLLECTION_NOT_FOUND: a `collection` filter names no collection' },
      },
    },
    async (c) => {
      const start = performance.now();
      const q = parseQuery(c, searchImageQuerySchema);
      const upload = await readImageUpload(c);
      const found = await metrics.timeSearch('image', () =>
        search.byImage(upload.bytes, {
          k: q.k,
          offset: q.offset,
          filter: filterOf(q),
          ...personOptionsOf(q),
          face: q.face,
          name: upload.name,
        }),
      );
      metrics.encoderDuration.observe({ stage: 'decode' }, found.timings.decodeMs / 1000);
      metrics.encoderDuration.observe({ stage: 'encode' }, found.timings.encodeMs / 1000);
      metrics.queryFaces.inc(found.faces.length);
      const body: SearchResponse = {
        model: found.model,
        image: found.image,
        faces: found.faces.map((f) => ({ ...f, results: withUrls(f.results) })),
        k: q.k,
        offset: q.offset,
        timings: found.timings,
        tookMs: since(start),
      };
      return c.json(body);
    },
  );

  r.add(
    {
      method: 'post',
      path: '/vector',
      tag: 'search',
      summary: 'Search by a raw vector',
      description:
        "For callers with their own embeddings from the server's model (see GET /models): the vector must " +
        'have its dimensions; it is L2-normalised before the search.',
      body: { schema: vectorSearchRequestSchema },
      responses: {
        200: { description: 'The nearest faces', schema: vectorSearchResponseSchema },
        404: { description: 'COLLECTION_NOT_FOUND: `filter.collections` names no collection' },
      },
    },
    async (c) => {
      const start = performance.now();
      const req = parseWith(vectorSearchRequestSchema, await readJson(c), 'body');
      const { model, results } = await metrics.timeSearch('vector', () =>
        search.byVector(
          Float32Array.from(req.vector),
          {
            k: req.k,
            offset: req.offset,
            filter: req.filter,
            ...(req.person ? { person: req.person } : {}),
            ...(req.diverse === undefined ? {} : { diverse: req.diverse }),
            ...(req.fold ? { fold: true } : {}),
          },
          req.identity ? Float32Array.from(req.identity) : undefined,
        ),
      );
      const body: VectorSearchResponse = {
        model,
        results: withUrls(results),
        k: req.k,
        offset: req.offset,
        tookMs: since(start),
      };
      return c.json(body);
    },
  );
  return r;
}
