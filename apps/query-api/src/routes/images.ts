import { type ImageResponse, imageResponseSchema } from '@fever/schema';
import type { Context } from 'hono';
import { z } from 'zod';
import type { ApiContext, AppEnv } from '../context.ts';
import { faceUrls, parseParams, parseQuery, sizeParam } from '../http.ts';
import { openImage, readImage } from '../image-files.ts';
import { Router } from '../openapi.ts';
import { PREVIEW_SIZES } from '../thumbnails.ts';

const imageIdParams = z.object({
  id: z.coerce.number().int().min(1).max(2_147_483_647).describe('image id'),
});

const previewQuery = z.strictObject({
  size: sizeParam(PREVIEW_SIZES, 1280, 'longest side in pixels'),
});

/** Derived JPEGs never change for a key: cacheable for long (privately when a token guards them). */
export function sendDerived(c: Context<AppEnv>, bytes: Uint8Array, etag: string, guarded: boolean) {
  return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {
    'Content-Type': 'image/jpeg',
    'Content-Length': String(bytes.length),
    ETag: etag,
    'Cache-Control': `${guarded ? 'private' : 'public'}, max-age=86400`,
  });
}

export function imageRoutes(ctx: ApiContext): Router {
  const { runtime } = ctx;
  const { images } = ctx.services;
  const r = new Router('/images');

  r.add(
    {
      method: 'get',
      path: '/:id',
      tag: 'images',
      summary: 'One indexed image and its faces',
      params: imageIdParams,
      responses: { 200: { description: 'The image', schema: imageResponseSchema } },
    },
    async (c) => {
      const { image, collection, model, faces } = await images.detail(parseParams(c, imageIdParams).id);
      const body: ImageResponse = {
        id: image.id,
        collection,
        sha256: image.sha256,
        uri: image.uri,
        sizeBytes: image.sizeBytes,
        width: image.width,
        height: image.height,
        status: image.status,
        faceCount: image.faceCount,
        error: image.errorCode ? { code: image.errorCode, message: image.errorMessage ?? '' } : null,
        createdAt: image.createdAt.toISOString(),
        updatedAt: image.updatedAt.toISOString(),
        faces: faces.map((f) => ({
          id: f.id,
          collection,
          image: {
            id: image.id,
            sha256: image.sha256,
            uri: image.uri,
            width: image.width,
            height: image.height,
          },
          faceIndex: f.faceIndex,
          box: f.box,
          detectionScore: f.detectionScore,
          label: f.label,
          probs: Object.fromEntries(model.labels.map((label, i) => [label, f.probs[i] ?? 0])),
          urls: faceUrls(f.id, image.id),
          model: { id: f.modelId, version: f.modelVersion },
        })),
        urls: { file: `images/${image.id}/file` },
      };
      return c.json(body);
    },
  );

  r.add(
    {
      method: 'get',
      path: '/:id/file',
      tag: 'images',
      summary: 'The indexed photo, as stored',
      description:
        'Served from where fever indexed it (by image id; no path is ever taken from the request), ' +
        'only if its bytes still hash to the sha256 recorded at indexing and its path does not lead ' +
        'out of the folders the server may read. 404 IMAGE_FILE_UNAVAILABLE when it has moved or ' +
        'is in a tar archive; 409 IMAGE_FILE_CHANGED when it no longer holds what was indexed.',
      params: imageIdParams,
      responses: {
        200: { description: 'The file', contentType: 'image/*' },
        304: { description: 'Not modified (ETag)' },
        404: { description: 'IMAGE_NOT_FOUND or IMAGE_FILE_UNAVAILABLE' },
        409: { description: 'IMAGE_FILE_CHANGED' },
      },
    },
    async (c) => {
      const image = await images.get(parseParams(c, imageIdParams).id);
      const etag = `"${image.sha256}"`;
      if (c.req.header('if-none-match') === etag) return c.body(null, 304, { ETag: etag });
      const file = await openImage(runtime, image, ctx.options.indexRoots);
      return c.body(file.body(), 200, {
        'Content-Type': file.type ?? 'application/octet-stream',
        'Content-Length': String(file.size),
        ETag: etag,
        'Cache-Control': `${ctx.options.apiToken ? 'private' : 'public'}, max-age=3600`,
        'X-Content-Type-Options': 'nosniff',
      });
    },
  );

  r.add(
    {
      method: 'get',
      path: '/:id/preview',
      tag: 'images',
      summary: 'The indexed photo as a JPEG preview',
      description: 'EXIF orientation applied (face boxes are in these pixels, scaled), longest side ≤ size.',
      params: imageIdParams,
      query: previewQuery,
      responses: {
        200: { description: 'JPEG', contentType: 'image/jpeg' },
        304: { description: 'Not modified (ETag)' },
      },
    },
    async (c) => {
      const image = await images.get(parseParams(c, imageIdParams).id);
      const { size } = parseQuery(c, previewQuery);
      const etag = `"${image.sha256}-${size}"`;
      if (c.req.header('if-none-match') === etag) return c.body(null, 304, { ETag: etag });
      const derived = await ctx.thumbnails.preview(image.sha256, size, () =>
        readImage(runtime, image, ctx.options.indexRoots),
      );
      ctx.metrics.thumbnails.inc({ kind: 'preview', source: derived.source });
      return sendDerived(c, derived.bytes, etag, ctx.options.apiToken !== undefined);
    },
  );
  return r;
}
