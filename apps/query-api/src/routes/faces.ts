import { NotFoundError } from '@fever/errors';
import {
  type FaceResponse,
  faceResponseSchema,
  type SimilarFacesResponse,
  searchQuerySchema,
  similarFacesResponseSchema,
} from '@fever/schema';
import type { Context } from 'hono';
import { z } from 'zod';
import type { ApiContext, AppEnv } from '../context.ts';
import { filterOf, parseParams, parseQuery, personOptionsOf, since, sizeParam, withUrls } from '../http.ts';
import { readImage } from '../image-files.ts';
import { Router } from '../openapi.ts';
import { THUMBNAIL_SIZES } from '../thumbnails.ts';
import { sendDerived } from './images.ts';

export const faceIdParams = z.object({ id: z.uuid().describe('face id (the vector point id)') });

const thumbnailQuery = z.strictObject({
  size: sizeParam(THUMBNAIL_SIZES, 160, 'edge of the square crop in pixels'),
});

export function faceRoutes(ctx: ApiContext): Router {
  const { runtime, metrics } = ctx;
  const { search, images } = ctx.services;
  const r = new Router('/faces');

  const requireFace = async (c: Context<AppEnv>) => {
    const { id } = parseParams(c, faceIdParams);
    const found = await search.face(id);
    if (!found) throw faceNotFound(id);
    return found;
  };

  r.add(
    {
      method: 'get',
      path: '/:id',
      tag: 'faces',
      summary: 'One indexed face',
      params: faceIdParams,
      responses: { 200: { description: 'The face', schema: faceResponseSchema } },
    },
    async (c) => {
      const { model, face } = await requireFace(c);
      const { similarity: _s, ...rest } = withUrls([face])[0]!;
      const body: FaceResponse = { ...rest, model };
      return c.json(body);
    },
  );

  r.add(
    {
      method: 'get',
      path: '/:id/similar',
      tag: 'search',
      summary: 'Faces with an expression like an indexed face',
      description: 'The face itself is never among the results; other faces of its photo may be.',
      params: faceIdParams,
      query: searchQuerySchema,
      responses: { 200: { description: 'The face and its neighbours', schema: similarFacesResponseSchema } },
    },
    async (c) => {
      const start = performance.now();
      const { id } = parseParams(c, faceIdParams);
      const q = parseQuery(c, searchQuerySchema);
      const { model, face, results } = await metrics.timeSearch('face', () =>
        search.similarTo(id, { k: q.k, offset: q.offset, filter: filterOf(q), ...personOptionsOf(q) }),
      );
      const { similarity: _s, ...rest } = withUrls([face])[0]!;
      const body: SimilarFacesResponse = {
        model,
        face: { ...rest, model },
        results: withUrls(results),
        k: q.k,
        offset: q.offset,
        tookMs: since(start),
      };
      return c.json(body);
    },
  );

  r.add(
    {
      method: 'get',
      path: '/:id/thumbnail',
      tag: 'faces',
      summary: 'A square JPEG crop of the face',
      description: 'Rendered from the indexed photo on first request, then cached (memory and disk).',
      params: faceIdParams,
      query: thumbnailQuery,
      responses: {
        200: { description: 'JPEG', contentType: 'image/jpeg' },
        304: { description: 'Not modified (ETag)' },
      },
    },
    async (c) => {
      const { face } = await requireFace(c);
      const { size } = parseQuery(c, thumbnailQuery);
      const etag = `"${face.id}-${size}"`;
      if (c.req.header('if-none-match') === etag) return c.body(null, 304, { ETag: etag });
      const derived = await ctx.thumbnails.face(face.id, face.box, size, async () =>
        readImage(runtime, await images.get(face.image.id), ctx.options.indexRoots),
      );
      metrics.thumbnails.inc({ kind: 'face', source: derived.source });
      return sendDerived(c, derived.bytes, etag, ctx.options.apiToken !== undefined);
    },
  );
  return r;
}

function faceNotFound(id: string): NotFoundError {
  return new NotFoundError('FACE_NOT_FOUND', `no face ${id} is indexed for the model this server runs`);
}
