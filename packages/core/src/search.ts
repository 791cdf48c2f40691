import type { Face as EncodedFace } from '@fever/encoder';
import { decodeImage, sha256Bytes } from '@fever/encoder';
import { InputError, NotFoundError } from '@fever/errors';
import type { Face, FaceIdentityInfo, Image } from '@fever/metadata';
import { DEFAULT_LINK_DISTANCE, SAME_PERSON_DISTANCE } from '@fever/people';
import type {
  FaceResult,
  FaceSelection,
  PersonSelection,
  QueryFaceResult,
  SearchFilter,
  SearchTimings,
} from '@fever/schema';
import type { SearchHit } from '@fever/vectors';
import type { ModelContext } from './models.ts';
import { identityUnavailable } from './people.ts';
import { RowCache } from './row-cache.ts';
import type { ServingRuntime } from './runtime.ts';

/**
 * Person-aware search. `other`: leave out the query's own person (its cluster when the query is
 * an indexed face that has one; else every face whose identity descriptor lies within
 * PERSON_OTHER_DISTANCE of the query's). `only`: just that person's faces, ranked by expression.
 */
export type PersonMode = PersonSelection;

export interface SearchParams {
  /** Neighbours per query face, 1..1000. */
  k: number;
  /** Skip this many neighbours first (pagination); offset + k ≤ 1000. */
  offset?: number;
  filter?: SearchFilter;
  person?: PersonMode;
  /** At most this many results per person (1..100). */
  diverse?: number;
  /**
   * Fold near-duplicates (a burst, a sequence: the same person with a near-identical expression)
   * into one result that carries their count.
   */
  fold?: boolean;
}

const MAX_WINDOW = 1000;
/**
 * person=other without a cluster to go by (an upload, or a face not clustered yet): a face is the
 * query's person when their identity descriptors are nearer than this cosine distance.
 */
export const PERSON_OTHER_DISTANCE = SAME_PERSON_DISTANCE;
/** Candidates fetched per person-aware search at most, before giving up on filling the page. */
const MAX_CANDIDATES = 10_000;
const MAX_DIVERSE = 100;
/**
 * Expression similarity (cosine) at or above which two faces of one person fold into one result.
 * On CK+48 nine in ten frame pairs of one sequence reach it, and 99% of one person's pairs from
 * different sequences stay under 0.83 (docs/QUALITY.md, "People").
 */
export const FOLD_SIMILARITY = 0.95;

/** What a query knows of its own identity: an indexed face's person, and/or a descriptor. */
export interface QueryIdentity {
  personId?: number;
  descriptor?: Float32Array;
}

/**
 * "Faces with an expression like this one": by example photo, by an indexed face, or by a raw
 * vector. The API and `fever search` both call this, so they answer the same.
 *
 * Vectors are searched in the collection of the model version the alias points at (see
 * serving.ts), and a query is embedded by that version's encoder: vectors of two versions are
 * never compared.
 */
export interface SearchServiceOptions {
  /**
   * How long hydrated face and image rows are reused, in ms (0: never). A hit's vector exists, so
   * its face row does too (vectors are deleted before metadata); what may go stale meanwhile is
   * an image's uri or a re-embedded face's probabilities. Default 60 s.
   */
  rowCacheTtlMs?: number;
  /** Rows kept per kind. Default 50 000 faces and 20 000 images. */
  rowCacheSize?: number;
}

export class SearchService {
  private readonly faceRows: RowCache<string, Face>;
  private readonly imageRows: RowCache<number, Image>;

  constructor(
    private readonly runtime: ServingRuntime,
    options: SearchServiceOptions = {},
  ) {
    const ttl = options.rowCacheTtlMs ?? 60_000;
    const size = options.rowCacheSize ?? 50_000;
    const { faces, images } = runtime.metadata;
    this.faceRows = new RowCache(size, ttl, async (ids: string[]) =>
      (await faces.getByIds(ids)).map((f): [string, Face] => [f.id, f]),
    );
    this.imageRows = new RowCache(Math.ceil(size * 0.4), ttl, async (ids: number[]) =>
      (await images.getByIds(ids)).map((i): [number, Image] => [i.id, i]),
    );
  }

  /** Forgets cached rows (after a collection is deleted, say). */
  invalidate(): void {
    this.faceRows.clear();
    this.imageRows.clear();
  }

  /** Detects the faces of an example image, picks some, and finds the nearest indexed faces. */
  async byImage(
    bytes: Uint8Array,
    params: SearchParams & { face?: FaceSelection; name?: string },
  ): Promise<ImageSearchResult> {
    return this.runtime.serving.use(async ({ model, encoder: loadEncoder }) => {
      const encoder = await loadEncoder();
      // Checked before the encoder runs: a bad k or an unknown collection costs no inference.
      checkWindow(params);
      await this.requireCollections(params.filter?.collections);
      const t0 = performance.now();
      const image = await decodeImage(bytes, {
        maxPixels: this.runtime.config.maxPixels,
        name: params.name ?? 'upload',
      });
      const t1 = performance.now();
      const selection = params.face ?? { mode: 'largest' };
      let selected: { face: EncodedFace; index: number }[] = [];
      let source: QueryFaceResult['source'] = 'detected';
      if (selection.mode !== 'whole') {
        const [found] = await encoder.encode([image]);
        selected = selectFaces(found!, selection);
      }
      // An upload in which the detector finds no face is most often a face crop: search with the
      // whole image as the face rather than answering "no face" (the response says so).
      if (selected.length === 0 && selection.mode !== 'index') {
        const [whole] = await encoder.embedCrops([image]);
        selected = [{ face: whole!, index: 0 }];
        source = 'whole-image';
      }
      const t2 = performance.now();
      const sha = sha256Bytes(bytes);
      // The example itself may be indexed: never answer it with its own faces.
      const excludeIds = await this.facesOfContent(sha, params.filter?.collections);
      const faces: QueryFaceResult[] = [];
      for (const { face, index } of selected) {
        faces.push({
          faceIndex: index,
          source,
          box: face.box,
          detectionScore: face.score,
          label: face.label ?? '',
          probs: probsRecord(face.probs, model.labels),
          results: await this.search(
            model,
            face.embedding,
            params,
            excludeIds,
            face.identity ? { descriptor: face.identity } : {},
          ),
        });
      }
      const t3 = performance.now();
      return {
        model: modelRef(model),
        image: { width: image.width, height: image.height, sha256: sha },
        faces,
        timings: { decodeMs: t1 - t0, encodeMs: t2 - t1, searchMs: t3 - t2 },
      };
    });
  }

  /** One indexed face of the version searches use, as a result (similarity 1), or undefined. */
  async face(faceId: string): Promise<{ model: ModelRef; face: FaceResult } | undefined> {
    return this.runtime.serving.use(async ({ model }) => {
      const [row] = await this.runtime.metadata.faces.getByIds([faceId]);
      if (!row || row.modelId !== model.id || row.modelVersion !== model.version) return undefined;
      const collection = await this.runtime.metadata.collections.getById(row.collectionId);
      const [hit] = await this.hydrate(model, [
        {
          id: row.id,
          score: 1,
          payload: {
            collection: collection?.name ?? '',
            imageId: String(row.imageId),
            label: row.label,
            score: row.detectionScore,
            model: `${model.id}@${model.version}`,
          },
        },
      ]);
      return hit && { model: modelRef(model), face: hit };
    });
  }

  /**
   * The indexed face and the faces like it (itself excluded), hydrated together: one vector
   * lookup, one search, and two metadata queries for the lot.
   */
  async similarTo(
    faceId: string,
    params: SearchParams,
  ): Promise<{ model: ModelRef; face: FaceResult; results: FaceResult[] }> {
    return this.runtime.serving.use(async ({ model }) => {
      const offset = checkWindow(params);
      await this.requireCollections(params.filter?.collections);
      const [point] = await this.runtime.vectors.get(model.vectorCollection, [faceId]);
      if (!point) throw faceNotFound(faceId, model);
      const [face] = await this.hydrate(model, [{ id: point.id, score: 1, payload: point.payload }]);
      // The vector is there but its metadata is not (deleted meanwhile): not an indexed face.
      if (!face || face.id !== point.id) throw faceNotFound(faceId, model);
      const own = (await this.runtime.metadata.identities.getByFaceIds([point.id])).get(
        point.id.toLowerCase(),
      );
      const identity: QueryIdentity = own
        ? { descriptor: own.descriptor, ...(own.personId === null ? {} : { personId: own.personId }) }
        : {};
      const results = await this.search(model, point.vector, { ...params, offset }, [point.id], identity);
      return { model: modelRef(model), face, results };
    });
  }

  /**
   * Faces like a vector from the version searches use (dims must match). `identity`: the query's
   * own identity descriptor, which person=other needs.
   */
  async byVector(
    vector: Float32Array,
    params: SearchParams,
    identity?: Float32Array,
  ): Promise<{ model: ModelRef; results: FaceResult[] }> {
    return this.runtime.serving.use(async ({ model }) => {
      if (vector.length !== model.dims) {
        throw new InputError(
          'VECTOR_DIMS_MISMATCH',
          `vector has ${vector.length} dimensions; model ${model.id}@${model.version} has ${model.dims}`,
        );
      }
      if (!vector.every(Number.isFinite))
        throw new InputError('VECTOR_INVALID', 'vector holds a non-finite number');
      if (identity && (identity.length === 0 || !identity.every(Number.isFinite))) {
        throw new InputError('IDENTITY_INVALID', 'identity must be a non-empty list of finite numbers');
      }
      return {
        model: modelRef(model),
        results: await this.search(model, vector, params, [], identity ? { descriptor: unit(identity) } : {}),
      };
    });
  }

  private async search(
    model: ModelContext,
    vector: Float32Array,
    params: SearchParams,
    excludeIds: readonly string[],
    identity: QueryIdentity = {},
  ): Promise<FaceResult[]> {
    const offset = checkWindow(params);
    await this.requireCollections(params.filter?.collections);
    const want = offset + params.k;
    if (!params.person && params.diverse === undefined && !params.fold) {
      const hits = await this.runtime.vectors.search(model.vectorCollection, vector, {
        k: want,
        filter: params.filter,
        excludeIds,
      });
      return this.hydrate(model, hits.slice(offset));
    }
    if (
      params.diverse !== undefined &&
      !(Number.isInteger(params.diverse) && params.diverse >= 1 && params.diverse <= MAX_DIVERSE)
    ) {
      throw new InputError(
        'INVALID_DIVERSE',
        `diverse must be true or a whole number from 1 to ${MAX_DIVERSE}, got ${params.diverse}`,
      );
    }
    // A person belongs to one collection, which has descriptors (it has people): only it is searched.
    if (params.person?.mode === 'only') {
      const hits = await this.personHits(
        model,
        vector,
        params,
        excludeIds,
        params.fold ? MAX_CANDIDATES : want,
      );
      if (!params.fold) return this.hydrate(model, hits.slice(offset));
      const info = await this.runtime.metadata.identities.getByFaceIds(hits.map((h) => h.id));
      const kept = keepHits(hits, info, identity, params, await this.vectorsOf(model, hits));
      return this.page(model, kept, offset, want, true);
    }
    await this.requireIdentities(params.filter?.collections);
    if (params.person?.mode === 'other' && !identity.descriptor && identity.personId === undefined) {
      throw new InputError(
        'QUERY_IDENTITY_UNAVAILABLE',
        "person=other needs the query face's identity: search by an example photo or an indexed face, or give `identity` with a vector",
      );
    }
    // Person-aware: fetch a wider window of candidates, drop the query's own person, fold
    // near-duplicates and/or cap each person, and widen again until the page is full or the
    // candidates run out.
    let window = Math.min(MAX_CANDIDATES, Math.max(50, want * 4));
    for (;;) {
      const hits = await this.runtime.vectors.search(model.vectorCollection, vector, {
        k: window,
        filter: params.filter,
        excludeIds,
      });
      const info = await this.runtime.metadata.identities.getByFaceIds(hits.map((h) => h.id));
      const vectors = params.fold ? await this.vectorsOf(model, hits) : undefined;
      const kept = keepHits(hits, info, identity, params, vectors);
      if (kept.length >= want || hits.length < window || window >= MAX_CANDIDATES) {
        return this.page(model, kept, offset, want, params.fold === true);
      }
      window = Math.min(MAX_CANDIDATES, window * 4);
    }
  }

  /** The stored expression vectors of hits, by lower-case id (what folding compares). */
  private async vectorsOf(
    model: ModelContext,
    hits: readonly SearchHit[],
  ): Promise<Map<string, Float32Array>> {
    const points = await this.runtime.vectors.get(
      model.vectorCollection,
      hits.map((h) => h.id),
    );
    return new Map(points.map((p) => [p.id.toLowerCase(), p.vector]));
  }

  /** One page of kept hits as results; with `fold`, each says how many faces it stands for. */
  private async page(
    model: ModelContext,
    kept: readonly KeptHit[],
    offset: number,
    want: number,
    fold: boolean,
  ): Promise<FaceResult[]> {
    const page = kept.slice(offset, want);
    const folded = new Map(page.map((k) => [k.hit.id.toLowerCase(), k.folded]));
    const results = await this.hydrate(
      model,
      page.map((k) => k.hit),
    );
    if (!fold) return results;
    return results.map((r) => {
      const ids = folded.get(r.id.toLowerCase()) ?? [];
      return { ...r, folded: { count: 1 + ids.length, faceIds: ids } };
    });
  }

  /** person=<id>: that person's faces (within the filter), ranked by similarity to the query. */
  private async personHits(
    model: ModelContext,
    vector: Float32Array,
    params: SearchParams,
    excludeIds: readonly string[],
    limit: number,
  ): Promise<SearchHit[]> {
    const { metadata, vectors } = this.runtime;
    const personId = (params.person as { personId: number }).personId;
    const person = await metadata.people.require(personId);
    const collection = await metadata.collections.getById(person.collectionId);
    const names = params.filter?.collections;
    if (!collection || (names && !names.includes(collection.name))) {
      throw new InputError(
        'PERSON_NOT_IN_COLLECTION',
        `person ${personId} belongs to collection '${collection?.name ?? '?'}', which this search leaves out`,
      );
    }
    const excluded = new Set(excludeIds.map((id) => id.toLowerCase()));
    const labels = params.filter?.labels;
    const minScore = params.filter?.minScore;
    const faces = (
      await metadata.people.faces(personId, { modelId: model.id, modelVersion: model.version })
    ).filter(
      (f) =>
        !excluded.has(f.faceId) &&
        (!labels || labels.includes(f.label)) &&
        (minScore === undefined || f.detectionScore >= minScore),
    );
    const q = unit(vector);
    const hits: SearchHit[] = [];
    for (let i = 0; i < faces.length; i += 1000) {
      const points = await vectors.get(
        model.vectorCollection,
        faces.slice(i, i + 1000).map((f) => f.faceId),
      );
      for (const p of points) hits.push({ id: p.id, score: dot(q, p.vector), payload: p.payload });
    }
    hits.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
    return hits.slice(0, limit);
  }

  /** Person-aware modes need identity descriptors in every collection searched (400 naming the first without). */
  private async requireIdentities(names: readonly string[] | undefined): Promise<void> {
    const { collections } = this.runtime.metadata;
    const targets = names
      ? await Promise.all(names.map((n) => collections.require(n)))
      : await collections.list();
    for (const c of targets) {
      const unavailable = identityUnavailable(c);
      if (unavailable) {
        throw new InputError(
          unavailable.code,
          `${unavailable.message}; person and diverse searches need them${names ? '' : ' (name the collections to search with ?collection=)'}`,
        );
      }
    }
  }

  /** Joins vector hits of `model` with their face and image rows, keeping the hit order. */
  async hydrate(model: ModelContext, hits: SearchHit[]): Promise<FaceResult[]> {
    if (hits.length === 0) return [];
    const faceRows = await this.faceRows.getMany(hits.map((h) => h.id.toLowerCase()));
    const imageRows = await this.imageRows.getMany([
      ...new Set([...faceRows.values()].map((f) => f.imageId)),
    ]);
    const personOf = await this.runtime.metadata.people.personOf(hits.map((h) => h.id));
    const results: FaceResult[] = [];
    for (const hit of hits) {
      const face = faceRows.get(hit.id.toLowerCase());
      const image = face && imageRows.get(face.imageId);
      // A vector whose metadata is gone (deleted meanwhile) is not an answer.
      if (!face || !image) continue;
      results.push({
        id: face.id,
        similarity: hit.score,
        collection: hit.payload.collection,
        image: {
          id: image.id,
          sha256: image.sha256,
          uri: image.uri,
          width: image.width,
          height: image.height,
        },
        faceIndex: face.faceIndex,
        box: face.box,
        detectionScore: face.detectionScore,
        label: face.label,
        probs: probsRecord(face.probs, model.labels),
        personId: personOf.get(face.id) ?? null,
      });
    }
    return results;
  }

  private async requireCollections(names: readonly string[] | undefined): Promise<void> {
    for (const name of names ?? []) await this.runtime.metadata.collections.require(name);
  }

  private async facesOfContent(sha: string, collections: readonly string[] | undefined): Promise<string[]> {
    const { metadata } = this.runtime;
    const targets = collections
      ? await Promise.all(collections.map((n) => metadata.collections.require(n)))
      : await metadata.collections.list();
    const ids: string[] = [];
    for (const c of targets) {
      const image = await metadata.images.getBySha256(c.id, sha);
      if (image) ids.push(...(await metadata.faces.listByImage(image.id)).map((f) => f.id));
    }
    return ids;
  }
}

/** A model version, as answers name it. */
export interface ModelRef {
  id: string;
  version: string;
}

function modelRef(model: ModelContext): ModelRef {
  return { id: model.id, version: model.version };
}

export interface ImageSearchResult {
  model: ModelRef;
  /** The example as decoded (EXIF orientation applied): the boxes are in these pixels. */
  image: { width: number; height: number; sha256: string };
  faces: QueryFaceResult[];
  timings: SearchTimings;
}

/** A kept hit and the faces folded into it (near-duplicates of it, best first). */
interface KeptHit {
  hit: SearchHit;
  folded: string[];
}

/**
 * The hits a person-aware search keeps, in order: without the query's own person (person=other),
 * near-duplicates folded into the first of them (`vectors` given: same person and expression
 * vectors at least FOLD_SIMILARITY alike), and at most `diverse` results per person. A face not
 * clustered yet counts as the person of an earlier face whose descriptor lies within the link
 * distance of its own, else as a person of its own.
 */
function keepHits(
  hits: readonly SearchHit[],
  info: ReadonlyMap<string, FaceIdentityInfo>,
  query: QueryIdentity,
  params: SearchParams,
  vectors?: ReadonlyMap<string, Float32Array>,
): KeptHit[] {
  const other = params.person?.mode === 'other';
  const loose: { key: string; descriptor: Float32Array }[] = [];
  const personKey = (hit: SearchHit): string => {
    const face = info.get(hit.id.toLowerCase());
    if (!face) return `face:${hit.id}`;
    if (face.personId !== null) return `person:${face.personId}`;
    const near = loose.find((l) => 1 - dot(l.descriptor, face.descriptor) < DEFAULT_LINK_DISTANCE);
    if (near) return near.key;
    loose.push({ key: `face:${hit.id}`, descriptor: face.descriptor });
    return `face:${hit.id}`;
  };
  const candidates = hits.filter((hit) => {
    const face = info.get(hit.id.toLowerCase());
    return !(other && face && isQueryPerson(face, query));
  });
  let kept: (KeptHit & { person: string })[] = [];
  for (const hit of candidates) {
    const person = personKey(hit);
    const vector = vectors?.get(hit.id.toLowerCase());
    const into =
      vector &&
      kept.find((k) => {
        const v = vectors!.get(k.hit.id.toLowerCase());
        return k.person === person && v !== undefined && dot(v, vector) >= FOLD_SIMILARITY;
      });
    if (into) into.folded.push(hit.id);
    else kept.push({ hit, folded: [], person });
  }
  if (params.diverse !== undefined) {
    const counts = new Map<string, number>();
    kept = kept.filter((k) => {
      const n = counts.get(k.person) ?? 0;
      counts.set(k.person, n + 1);
      return n < params.diverse!;
    });
  }
  return kept.map(({ hit, folded }) => ({ hit, folded }));
}

function isQueryPerson(face: FaceIdentityInfo, query: QueryIdentity): boolean {
  if (query.personId !== undefined && face.personId !== null) return face.personId === query.personId;
  return query.descriptor !== undefined && 1 - dot(face.descriptor, query.descriptor) < PERSON_OTHER_DISTANCE;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) s += a[i]! * b[i]!;
  return s;
}

function unit(v: Float32Array): Float32Array {
  const n = Math.sqrt(dot(v, v));
  return n > 0 ? v.map((x) => x / n) : v;
}

function faceNotFound(faceId: string, model: ModelContext): NotFoundError {
  return new NotFoundError(
    'FACE_NOT_FOUND',
    `no face ${faceId} is indexed for model ${model.id}@${model.version}`,
  );
}

/** Validates k and offset; returns the offset. */
function checkWindow(params: SearchParams): number {
  const offset = params.offset ?? 0;
  if (!Number.isInteger(params.k) || params.k < 1 || params.k > MAX_WINDOW) {
    throw new InputError('INVALID_K', `k must be a whole number from 1 to ${MAX_WINDOW}, got ${params.k}`);
  }
  if (!Number.isInteger(offset) || offset < 0 || offset + params.k > MAX_WINDOW) {
    throw new InputError(
      'INVALID_OFFSET',
      `offset must be ≥ 0 with offset + k ≤ ${MAX_WINDOW}, got ${offset}`,
    );
  }
  return offset;
}

export function selectFaces(
  faces: EncodedFace[],
  selection: FaceSelection,
): { face: EncodedFace; index: number }[] {
  const indexed = faces.map((face, index) => ({ face, index }));
  if (selection.mode === 'all') return indexed;
  if (selection.mode === 'index') {
    const chosen = indexed[selection.index];
    if (!chosen) {
      throw new InputError(
        'FACE_INDEX_OUT_OF_RANGE',
        `face ${selection.index} was asked for, but the image has ${faces.length} face${faces.length === 1 ? '' : 's'}`,
      );
    }
    return [chosen];
  }
  const area = (f: EncodedFace) => f.box.width * f.box.height;
  return indexed.length === 0 ? [] : [indexed.reduce((a, b) => (area(b.face) > area(a.face) ? b : a))];
}

function probsRecord(probs: ArrayLike<number> | null, labels: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  if (probs) {
    labels.forEach((label, i) => {
      out[label] = probs[i]!;
    });
  }
  return out;
}
