import type { Collection } from '@fever/metadata';
import {
  type CollectionDetailResponse,
  type CollectionResponse,
  collectionDetailResponseSchema,
  collectionListResponseSchema,
  collectionNameSchema,
  collectionResponseSchema,
  createCollectionRequestSchema,
  deleteCollectionResponseSchema,
} from '@fever/schema';
import { z } from 'zod';
import type { ApiContext } from '../context.ts';
import { parseWith } from '../errors.ts';
import { parseParams } from '../http.ts';
import { Router } from '../openapi.ts';
import { readJson } from '../upload.ts';

const nameParams = z.object({ name: collectionNameSchema.describe('collection name') });

function toResponse(c: Collection): CollectionResponse {
  return {
    name: c.name,
    description: c.description,
    createdAt: c.createdAt.toISOString(),
    identityDescriptors: c.identityDescriptors,
  };
}

export function collectionRoutes(ctx: ApiContext): Router {
  const { collections } = ctx.services;
  const r = new Router('/collections');

  r.add(
    {
      method: 'get',
      path: '/',
      tag: 'collections',
      summary: 'List the collections',
      responses: { 200: { description: 'Every collection, by name', schema: collectionListResponseSchema } },
    },
    async (c) => c.json({ collections: (await collections.list()).map(toResponse) }),
  );

  r.add(
    {
      method: 'post',
      path: '/',
      tag: 'collections',
      summary: 'Create a collection',
      body: { schema: createCollectionRequestSchema },
      responses: {
        201: { description: 'Created', schema: collectionResponseSchema },
        409: { description: 'COLLECTION_EXISTS', schema: undefined },
      },
    },
    async (c) => {
      const req = parseWith(createCollectionRequestSchema, await readJson(c), 'body');
      const created = await collections.create(req);
      return c.json(toResponse(created), 201, { Location: `collections/${created.name}` });
    },
  );

  r.add(
    {
      method: 'get',
      path: '/:name',
      tag: 'collections',
      summary: 'One collection with its image and face counts',
      params: nameParams,
      responses: { 200: { description: 'The collection', schema: collectionDetailResponseSchema } },
    },
    async (c) => {
      const { name } = parseParams(c, nameParams);
      const { collection, images, faces, facesWithIdentity } = await collections.detail(name);
      const body: CollectionDetailResponse = { ...toResponse(collection), images, faces, facesWithIdentity };
      return c.json(body);
    },
  );

  r.add(
    {
      method: 'delete',
      path: '/:name',
      tag: 'collections',
      summary: 'Delete a collection with its images, faces, index runs and vectors',
      description: "Removes its vectors from every model version's vector collection, then its metadata.",
      params: nameParams,
      responses: { 200: { description: 'What was deleted', schema: deleteCollectionResponseSchema } },
    },
    async (c) => {
      const { name } = parseParams(c, nameParams);
      return c.json(await collections.delete(name));
    },
  );
  return r;
}
