import type { Schemas } from '@qdrant/js-client-rest';
import type { SearchFilter } from '../types.ts';

/**
 * fever filter → Qdrant filter. The fields are the ones ensureCollection indexes (keyword for
 * collection/label/imageId, float for score), so Qdrant plans filtered HNSW search with them.
 */
export function toQdrantFilter(
  filter: SearchFilter | undefined,
  excludeIds: readonly string[] = [],
): Schemas['Filter'] | undefined {
  const must: Schemas['Condition'][] = [];
  if (filter?.collections?.length) must.push({ key: 'collection', match: { any: [...filter.collections] } });
  if (filter?.labels?.length) must.push({ key: 'label', match: { any: [...filter.labels] } });
  if (filter?.minScore !== undefined) must.push({ key: 'score', range: { gte: filter.minScore } });
  const mustNot: Schemas['Condition'][] = excludeIds.length > 0 ? [{ has_id: [...excludeIds] }] : [];
  if (must.length === 0 && mustNot.length === 0) return undefined;
  return { ...(must.length ? { must } : {}), ...(mustNot.length ? { must_not: mustNot } : {}) };
}

export function imageFilter(imageId: string): Schemas['Filter'] {
  return { must: [{ key: 'imageId', match: { value: imageId } }] };
}
