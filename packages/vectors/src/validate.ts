import { InputError } from '@fever/errors';
import type { CollectionSpec, Point, SearchFilter, SearchOptions } from './types.ts';

/**
 * Checks shared by both adapters, so bad input fails the same way (same code, before any write)
 * whichever store is configured.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const MAX_K = 10_000;

/** Lower-cased UUID: Qdrant answers ids in lower case, so both adapters key on that form. */
export function normalizeId(id: unknown): string {
  const s = typeof id === 'string' ? id.toLowerCase() : '';
  if (!UUID.test(s)) {
    throw new InputError('VECTORS_INVALID_ID', `point id must be a UUID string, got ${JSON.stringify(id)}`);
  }
  return s;
}

export function checkSpec(spec: CollectionSpec): void {
  if (!Number.isInteger(spec.dims) || spec.dims < 1 || spec.dims > 65_536) {
    throw new InputError('VECTORS_INVALID_DIMS', `dims must be an integer in 1..65536, got ${spec.dims}`);
  }
  if (spec.distance !== 'cosine' && spec.distance !== 'euclid') {
    throw new InputError(
      'VECTORS_INVALID_DISTANCE',
      `distance must be 'cosine' or 'euclid', got ${JSON.stringify(spec.distance)}`,
    );
  }
}

export function checkVector(vector: unknown, dims: number, cosine: boolean, what: string): Float32Array {
  if (!(vector instanceof Float32Array)) {
    throw new InputError('VECTORS_INVALID_VECTOR', `${what}: vector must be a Float32Array`);
  }
  if (vector.length !== dims) {
    throw new InputError(
      'VECTORS_DIMS_MISMATCH',
      `${what}: vector has ${vector.length} dimensions, the collection has ${dims}`,
    );
  }
  let sq = 0;
  for (let i = 0; i < vector.length; i++) {
    const x = vector[i]!;
    if (!Number.isFinite(x)) {
      throw new InputError('VECTORS_INVALID_VECTOR', `${what}: vector has a non-finite value at ${i}`);
    }
    sq += x * x;
  }
  if (cosine && sq === 0) {
    throw new InputError('VECTORS_INVALID_VECTOR', `${what}: a zero vector has no cosine similarity`);
  }
  return vector;
}

export function checkPayload(payload: unknown, what: string): void {
  const p = payload as Record<string, unknown> | null;
  if (typeof p !== 'object' || p === null || Array.isArray(p)) {
    throw new InputError('VECTORS_INVALID_PAYLOAD', `${what}: payload must be an object`);
  }
  for (const key of ['collection', 'imageId', 'label', 'model'] as const) {
    if (typeof p[key] !== 'string' || p[key] === '') {
      throw new InputError('VECTORS_INVALID_PAYLOAD', `${what}: payload.${key} must be a non-empty string`);
    }
  }
  if (typeof p.score !== 'number' || !Number.isFinite(p.score)) {
    throw new InputError('VECTORS_INVALID_PAYLOAD', `${what}: payload.score must be a finite number`);
  }
}

/** Validates a batch and keeps the last occurrence of a repeated id (upsert semantics). */
export function checkPoints(points: readonly Point[], dims: number, cosine: boolean): Point[] {
  if (!Array.isArray(points)) throw new InputError('VECTORS_INVALID_POINT', 'points must be an array');
  const byId = new Map<string, Point>();
  points.forEach((point, i) => {
    if (typeof point !== 'object' || point === null) {
      throw new InputError('VECTORS_INVALID_POINT', `point ${i} must be an object`);
    }
    const id = normalizeId(point.id);
    const what = `point ${i} (${id})`;
    checkVector(point.vector, dims, cosine, what);
    checkPayload(point.payload, what);
    byId.delete(id); // re-insert so the batch order follows the last occurrence
    byId.set(id, { id, vector: point.vector, payload: point.payload });
  });
  return [...byId.values()];
}

export function checkFilter(filter: SearchFilter | undefined): void {
  if (filter === undefined) return;
  if (typeof filter !== 'object' || filter === null) {
    throw new InputError('VECTORS_INVALID_FILTER', 'filter must be an object');
  }
  for (const key of ['collections', 'labels'] as const) {
    const list = filter[key];
    if (list !== undefined && (!Array.isArray(list) || list.some((v) => typeof v !== 'string'))) {
      throw new InputError('VECTORS_INVALID_FILTER', `filter.${key} must be an array of strings`);
    }
  }
  if (filter.minScore !== undefined && !Number.isFinite(filter.minScore)) {
    throw new InputError('VECTORS_INVALID_FILTER', 'filter.minScore must be a finite number');
  }
}

/** True when the filter constrains something (empty lists do not). */
export function hasCondition(filter: SearchFilter | undefined): boolean {
  return (
    filter !== undefined &&
    ((filter.collections?.length ?? 0) > 0 ||
      (filter.labels?.length ?? 0) > 0 ||
      filter.minScore !== undefined)
  );
}

export function checkSearchOptions(options: SearchOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new InputError('VECTORS_INVALID_QUERY', 'search options must be an object');
  }
  if (!Number.isInteger(options.k) || options.k < 1 || options.k > MAX_K) {
    throw new InputError('VECTORS_INVALID_QUERY', `k must be an integer in 1..${MAX_K}, got ${options.k}`);
  }
  checkFilter(options.filter);
  if (options.excludeIds !== undefined && !Array.isArray(options.excludeIds)) {
    throw new InputError('VECTORS_INVALID_QUERY', 'excludeIds must be an array of point ids');
  }
}
