import type { SearchParams } from '@fever/core';
import type { FaceResult, SearchFilter, SearchQuery } from '@fever/schema';
import type { Context } from 'hono';
import { z } from 'zod';
import type { AppEnv } from './context.ts';
import { parseWith } from './errors.ts';

/** Query parameters as an object: a repeated parameter becomes an array. */
export function rawQuery(c: Context<AppEnv>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, values] of Object.entries(c.req.queries())) {
    out[key] = values.length === 1 ? values[0]! : values;
  }
  return out;
}

export function parseQuery<S extends z.ZodType>(c: Context<AppEnv>, schema: S): z.output<S> {
  return parseWith(schema, rawQuery(c), 'query parameter');
}

export function parseParams<S extends z.ZodType>(c: Context<AppEnv>, schema: S): z.output<S> {
  return parseWith(schema, c.req.param(), 'path parameter');
}

/** The person-aware options of a search query (`person`, `diverse`, `fold`). */
export function personOptionsOf(q: SearchQuery): Pick<SearchParams, 'person' | 'diverse' | 'fold'> {
  return {
    ...(q.person ? { person: q.person } : {}),
    ...(q.diverse === undefined ? {} : { diverse: q.diverse }),
    ...(q.fold ? { fold: true } : {}),
  };
}

export function filterOf(q: SearchQuery): SearchFilter | undefined {
  const filter: SearchFilter = {};
  if (q.collection?.length) filter.collections = q.collection;
  if (q.label?.length) filter.labels = q.label;
  if (q.minScore !== undefined) filter.minScore = q.minScore;
  return Object.keys(filter).length ? filter : undefined;
}

export const faceUrls = (faceId: string, imageId: number) => ({
  image: `images/${imageId}/file`,
  preview: `images/${imageId}/preview`,
  thumbnail: `faces/${faceId}/thumbnail`,
});

/** Adds the API's links to search hits. */
export function withUrls<T extends Omit<FaceResult, 'similarity'>>(results: T[]): T[] {
  return results.map((r) => ({ ...r, urls: faceUrls(r.id, r.image.id) }));
}

export function iso(date: Date | null): string | null {
  return date === null ? null : date.toISOString();
}

export function since(start: number): number {
  return Math.round((performance.now() - start) * 100) / 100;
}

/**
 * `?size=` of a derived image: one of `sizes` (each a cache key). An enum of strings, so the
 * OpenAPI document lists the sizes a client may send.
 */
export function sizeParam(sizes: readonly number[], fallback: number, what: string) {
  return z
    .enum(sizes.map(String) as [string, ...string[]], { message: `must be one of ${sizes.join(', ')}` })
    .default(String(fallback))
    .transform(Number)
    .describe(`${what}: ${sizes.join(', ')}`);
}
