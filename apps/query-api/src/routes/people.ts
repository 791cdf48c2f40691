import {
  clusteringResponseSchema,
  clusterPeopleRequestSchema,
  collectionNameSchema,
  personDetailQuerySchema,
  personDetailResponseSchema,
  personListQuerySchema,
  personListResponseSchema,
  personSummarySchema,
  renamePersonRequestSchema,
} from '@fever/schema';
import { z } from 'zod';
import type { ApiContext } from '../context.ts';
import { parseWith } from '../errors.ts';
import { parseParams, parseQuery } from '../http.ts';
import { Router } from '../openapi.ts';
import { readJson } from '../upload.ts';

const personParams = z.object({
  id: z.coerce.number().int().min(1).max(2_147_483_647).describe('person id'),
});
const collectionParams = z.object({ name: collectionNameSchema.describe('collection name') });

/** People of a collection (clusters of its faces by identity): list, cluster, show, rename. */
export function peopleRoutes(ctx: ApiContext): Router {
  const { people } = ctx.services;
  const r = new Router('');

  r.add(
    {
      method: 'get',
      path: '/collections/:name/people',
      tag: 'people',
      summary: "A collection's people, most faces first",
      description: 'Empty until the collection is clustered (POST /collections/{name}/people/cluster).',
      params: collectionParams,
      query: personListQuerySchema,
      responses: {
        200: { description: 'A page of people', schema: personListResponseSchema },
        400: { description: 'IDENTITY_UNAVAILABLE: the collection was indexed without identity descriptors' },
      },
    },
    async (c) => {
      const { name } = parseParams(c, collectionParams);
      const q = parseQuery(c, personListQuerySchema);
      return c.json(await people.list(name, q));
    },
  );

  r.add(
    {
      method: 'post',
      path: '/collections/:name/people/cluster',
      tag: 'people',
      summary: "Cluster a collection's faces into people (re-runnable)",
      description:
        'Single linkage over the k-nearest-neighbour graph of identity descriptors; a person keeps its id ' +
        '(and name) wherever the new clustering overlaps it most. Run it again after indexing more photos.',
      params: collectionParams,
      body: {
        schema: clusterPeopleRequestSchema,
        description: 'optional: threshold, neighbours',
        optional: true,
      },
      responses: { 200: { description: 'What the clustering did', schema: clusteringResponseSchema } },
    },
    async (c) => {
      const { name } = parseParams(c, collectionParams);
      const body = parseWith(clusterPeopleRequestSchema, await readJson(c, { optional: true }), 'body');
      return c.json(await people.cluster(name, body));
    },
  );

  r.add(
    {
      method: 'get',
      path: '/people/:id',
      tag: 'people',
      summary: 'A person and their faces, one row per expression',
      params: personParams,
      query: personDetailQuerySchema,
      responses: {
        200: { description: 'The person', schema: personDetailResponseSchema },
        404: { description: 'PERSON_NOT_FOUND' },
      },
    },
    async (c) => {
      const { id } = parseParams(c, personParams);
      const q = parseQuery(c, personDetailQuerySchema);
      return c.json(await people.show(id, { perExpression: q.perExpression }));
    },
  );

  r.add(
    {
      method: 'put',
      path: '/people/:id/name',
      tag: 'people',
      summary: 'Name a person (null clears the name)',
      params: personParams,
      body: { schema: renamePersonRequestSchema },
      responses: {
        200: { description: 'The person', schema: personSummarySchema },
        400: { description: 'INVALID_PERSON_NAME: empty, only spaces, or over 200 characters' },
        404: { description: 'PERSON_NOT_FOUND' },
      },
    },
    async (c) => {
      const { id } = parseParams(c, personParams);
      const { name } = parseWith(renamePersonRequestSchema, await readJson(c), 'body');
      return c.json(await people.rename(id, name));
    },
  );
  return r;
}
