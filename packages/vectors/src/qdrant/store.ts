import { FeverError, InputError, NotFoundError } from '@fever/errors';
import { QdrantClient, type Schemas } from '@qdrant/js-client-rest';
import { euclidSimilarity } from '../math.ts';
import { assertName } from '../names.ts';
import type {
  CollectionInfo,
  CollectionSpec,
  Distance,
  Point,
  PointPayload,
  SearchFilter,
  SearchHit,
  SearchOptions,
  StoredPoint,
  VectorStore,
} from '../types.ts';
import {
  checkFilter,
  checkPoints,
  checkSearchOptions,
  checkSpec,
  checkVector,
  hasCondition,
  normalizeId,
} from '../validate.ts';
import { imageFilter, toQdrantFilter } from './filter.ts';
import { DEFAULT_RETRY, type RetryOptions, withRetry } from './retry.ts';

/**
 * The scaled vector store: Qdrant over its REST API (`QDRANT_URL`).
 *
 * `wait` semantics. Qdrant appends every update to its write-ahead log before answering.
 * - wait: false — the answer comes once the update is in the WAL; it is not yet applied to the
 *   segments, so an immediate search or count may not see it.
 * - wait: true (used here for every write) — the answer comes once the update is applied to the
 *   segments: any later read on this node sees it (read-your-writes), and with replication the
 *   write_consistency_factor replicas have applied it. It does not mean the new points are in
 *   the HNSW graph yet: the optimizer indexes in the background and un-indexed points are
 *   searched exhaustively meanwhile, so results are complete, just slower until it catches up.
 *   Neither mode adds an fsync of its own: durability is Qdrant's WAL policy.
 * A retried write is safe either way: point ids are deterministic, so replays overwrite.
 */

export interface QdrantOptions {
  url: string;
  apiKey?: string;
  /** Per-request timeout of writes and set-up calls, in ms (a timeout is retried). Default 30 000. */
  timeoutMs?: number;
  /**
   * Per-request timeout of reads (search, get, count, lookups), in ms. Default 5 000: a search
   * answers in milliseconds, and a Qdrant that does not answer at all (frozen, or its host
   * unreachable) must not hold an API request for minutes.
   */
  readTimeoutMs?: number;
  /** Reads give up after this long in all, tries and back-off included, in ms. Default 10 000. */
  readDeadlineMs?: number;
  /** Points per upsert request. Default 128. */
  batchSize?: number;
  retry?: Partial<RetryOptions>;
  /** HNSW links per node (m) for new collections. Default 32. */
  m?: number;
  /** HNSW beam width while building (ef_construct) for new collections. Default 128. */
  efConstruct?: number;
  /** HNSW beam width per query (hnsw_ef). Default 64, as the embedded store. */
  efSearch?: number;
  /**
   * `int8`: new collections keep an int8 scalar-quantised copy in RAM for the search and the
   * float32 vectors on disk (re-scoring the candidates, docs/SCALING.md). Default none.
   */
  quantization?: 'int8';
}

/** Payload fields fever filters on; indexed before the first point arrives. */
const PAYLOAD_INDEXES: [string, Schemas['PayloadSchemaType']][] = [
  ['collection', 'keyword'],
  ['label', 'keyword'],
  ['imageId', 'keyword'],
  ['score', 'float'],
];

/** Reads answer an API caller, with short tries and a deadline; writes are retried patiently. */
type Kind = 'read' | 'write';

const DISTANCE_TO_QDRANT = { cosine: 'Cosine', euclid: 'Euclid' } as const;
const ID_BATCH = 1000;
const DISTANCE_CACHE_MS = 30_000;

export class QdrantVectorStore implements VectorStore {
  readonly kind = 'qdrant' as const;
  private readonly client: QdrantClient;
  private readonly readClient: QdrantClient;
  private readonly retry: RetryOptions;
  private readonly readRetry: RetryOptions;
  private readonly batchSize: number;
  private readonly m: number;
  private readonly efConstruct: number;
  private readonly efSearch: number;
  private readonly quantization: 'int8' | undefined;
  private readonly distances = new Map<string, { distance: Distance; at: number }>();
  private closed = false;

  constructor(options: QdrantOptions) {
    const client = (timeout: number) =>
      new QdrantClient({
        url: options.url,
        ...(options.apiKey ? { apiKey: options.apiKey } : {}),
        // Uncompressed answers. Qdrant gzips an answer when asked (fetch asks by default) and
        // sends it in several writes without TCP_NODELAY, so on a keep-alive connection every
        // answer waited ~40 ms for a delayed ACK: 48 → 4 ms a search (docs/BENCHMARKS.md).
        headers: { 'accept-encoding': 'identity' },
        timeout,
        // The version probe is an unretried request at construction; a server that is still
        // starting would only print a warning.
        checkCompatibility: false,
      });
    this.client = client(options.timeoutMs ?? 30_000);
    this.readClient = client(options.readTimeoutMs ?? 5_000);
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.readRetry = { ...this.retry, deadlineMs: options.readDeadlineMs ?? 10_000 };
    this.batchSize = options.batchSize ?? 128;
    this.m = options.m ?? 32;
    this.efConstruct = options.efConstruct ?? 128;
    this.efSearch = options.efSearch ?? 64;
    this.quantization = options.quantization;
  }

  async ensureCollection(spec: CollectionSpec): Promise<void> {
    this.assertOpen();
    assertName(spec.name);
    checkSpec(spec);
    if ((await this.aliasMap()).has(spec.name)) {
      throw new InputError('VECTORS_NAME_TAKEN', `${spec.name} is an alias, not a collection`, {
        status: 409,
      });
    }
    const { exists } = await this.call('collection exists', (c) => c.collectionExists(spec.name));
    if (!exists) {
      try {
        await this.call('create collection', (c) =>
          c.createCollection(spec.name, {
            vectors: {
              size: spec.dims,
              distance: DISTANCE_TO_QDRANT[spec.distance],
              ...(this.quantization ? { on_disk: true } : {}),
            },
            hnsw_config: { m: this.m, ef_construct: this.efConstruct },
            ...(this.quantization
              ? { quantization_config: { scalar: { type: 'int8', quantile: 0.99, always_ram: true } } }
              : {}),
          }),
        );
      } catch (err) {
        // Another process (or our own retried request) created it first: check it below.
        if (!/already exists/i.test((err as Error).message)) throw err;
      }
    }
    const info = await this.call('get collection', (c) => c.getCollection(spec.name));
    const actual = specOf(spec.name, info);
    if (actual.dims !== spec.dims || actual.distance !== spec.distance) {
      throw new InputError(
        'VECTORS_COLLECTION_MISMATCH',
        `collection ${spec.name} exists with dims ${actual.dims} and distance ${actual.distance}, asked for ${spec.dims}/${spec.distance}`,
        { status: 409 },
      );
    }
    const have = info.payload_schema ?? {};
    for (const [field, type] of PAYLOAD_INDEXES) {
      if (have[field]?.data_type === type) continue;
      await this.call(`index payload field ${field}`, (c) =>
        c.createPayloadIndex(spec.name, { field_name: field, field_schema: type, wait: true }),
      );
    }
  }

  async describeCollection(name: string): Promise<CollectionInfo | undefined> {
    this.assertOpen();
    assertName(name);
    const real = (await this.aliasMap('read')).get(name) ?? name;
    const { exists } = await this.call('collection exists', (c) => c.collectionExists(real), 'read');
    if (!exists) return undefined;
    const info = await this.call('get collection', (c) => c.getCollection(real), 'read');
    return { ...specOf(real, info), count: await this.count(real) };
  }

  async dropCollection(name: string): Promise<void> {
    this.assertOpen();
    assertName(name);
    if ((await this.aliasMap()).has(name)) {
      throw new InputError('VECTORS_NAME_IS_ALIAS', `${name} is an alias: drop a collection by its own name`);
    }
    // Qdrant deletes the collection's aliases with it.
    try {
      await this.call('delete collection', (c) => c.deleteCollection(name));
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }

  async upsert(collection: string, points: readonly Point[]): Promise<void> {
    this.assertOpen();
    assertName(collection);
    const spec = await this.specOfExisting(collection);
    const clean = checkPoints(points, spec.dims, spec.distance === 'cosine');
    for (let start = 0; start < clean.length; start += this.batchSize) {
      const batch = clean.slice(start, start + this.batchSize).map((p) => ({
        id: p.id,
        vector: Array.from(p.vector),
        payload: p.payload as Record<string, unknown>,
      }));
      await this.call('upsert', (c) => c.upsert(collection, { wait: true, points: batch }));
    }
  }

  async deleteByIds(collection: string, ids: readonly string[]): Promise<void> {
    this.assertOpen();
    assertName(collection);
    const clean = ids.map(normalizeId);
    for (let start = 0; start < clean.length; start += ID_BATCH) {
      const chunk = clean.slice(start, start + ID_BATCH);
      await this.call('delete points', (c) => c.delete(collection, { wait: true, points: chunk }));
    }
    if (clean.length === 0) await this.specOfExisting(collection); // same not-found answer as the embedded store
  }

  async deleteByImage(collection: string, imageId: string): Promise<void> {
    this.assertOpen();
    assertName(collection);
    if (typeof imageId !== 'string' || imageId === '') {
      throw new InputError('VECTORS_INVALID_FILTER', 'imageId must be a non-empty string');
    }
    await this.call('delete by image', (c) =>
      c.delete(collection, { wait: true, filter: imageFilter(imageId) }),
    );
  }

  async deleteByFilter(collection: string, filter: SearchFilter): Promise<void> {
    this.assertOpen();
    assertName(collection);
    checkFilter(filter);
    if (!hasCondition(filter)) {
      throw new InputError(
        'VECTORS_EMPTY_FILTER',
        'deleteByFilter needs at least one condition (use dropCollection)',
      );
    }
    const qf = toQdrantFilter(filter)!;
    await this.call('delete by filter', (c) => c.delete(collection, { wait: true, filter: qf }));
  }

  async search(collection: string, vector: Float32Array, options: SearchOptions): Promise<SearchHit[]> {
    this.assertOpen();
    assertName(collection);
    checkSearchOptions(options);
    // Dimensions are checked by Qdrant (its 400 maps to VECTORS_DIMS_MISMATCH); NaN must not
    // reach JSON, where it would turn into null.
    checkVector(vector, vector.length, false, 'query');
    const filter = toQdrantFilter(options.filter, (options.excludeIds ?? []).map(normalizeId));
    const res = await this.call(
      'query',
      (c) =>
        c.query(collection, {
          query: Array.from(vector),
          limit: options.k,
          with_payload: true,
          params: {
            hnsw_ef: Math.max(this.efSearch, options.k),
            exact: options.exact === true,
            // On an int8-quantised collection: twice k candidates by the int8 copy, re-scored with
            // the float32 vectors (without it recall@10 stopped at 0.964 whatever hnsw_ef was).
            // Qdrant ignores it on a collection without quantisation.
            quantization: { rescore: true, oversampling: 2 },
            // A filter that keeps few points (a label, a collection) lost recall in the graph:
            // 0.58 at 100k faces and hnsw_ef 64 for 1 label in 7. ACORN also explores the
            // neighbours' neighbours past filtered-out points: 1.00 (docs/BENCHMARKS.md). Qdrant
            // uses it only where the filter keeps under 40 % of the points.
            ...(filter ? { acorn: { enable: true } } : {}),
          },
          ...(filter ? { filter } : {}),
        }),
      'read',
    );
    const euclid = res.points.length > 0 && (await this.distanceOf(collection)) === 'euclid';
    return res.points.map((p) => ({
      id: String(p.id),
      score: euclid ? euclidSimilarity(p.score) : p.score,
      payload: p.payload as PointPayload,
    }));
  }

  async get(collection: string, ids: readonly string[]): Promise<StoredPoint[]> {
    this.assertOpen();
    assertName(collection);
    const clean = ids.map(normalizeId);
    const found = new Map<string, StoredPoint>();
    for (let start = 0; start < clean.length; start += ID_BATCH) {
      const chunk = clean.slice(start, start + ID_BATCH);
      const records = await this.call(
        'retrieve',
        (c) => c.retrieve(collection, { ids: chunk, with_payload: true, with_vector: true }),
        'read',
      );
      for (const r of records) {
        if (!Array.isArray(r.vector) || Array.isArray(r.vector[0])) {
          throw new FeverError('VECTORS_QDRANT_ERROR', `point ${r.id} in ${collection} has no plain vector`);
        }
        found.set(String(r.id), {
          id: String(r.id),
          vector: Float32Array.from(r.vector as number[]),
          payload: r.payload as PointPayload,
        });
      }
    }
    if (clean.length === 0) await this.specOfExisting(collection, 'read');
    return clean.flatMap((id) => found.get(id) ?? []);
  }

  async count(collection: string, filter?: SearchFilter): Promise<number> {
    this.assertOpen();
    assertName(collection);
    checkFilter(filter);
    const qf = toQdrantFilter(filter);
    const res = await this.call(
      'count',
      (c) => c.count(collection, { exact: true, ...(qf ? { filter: qf } : {}) }),
      'read',
    );
    return res.count;
  }

  async swapAlias(alias: string, collection: string): Promise<{ previous: string | undefined }> {
    this.assertOpen();
    assertName(alias, 'alias');
    assertName(collection);
    const aliases = await this.aliasMap();
    if (aliases.has(collection)) {
      throw new InputError(
        'VECTORS_INVALID_ALIAS',
        `${collection} is itself an alias; point at a collection`,
      );
    }
    // The collection list holds real collections only (an alias-aware existence check could
    // mistake the alias being moved for a clashing collection).
    const { collections } = await this.call('list collections', (c) => c.getCollections());
    const names = new Set(collections.map((c) => c.name));
    if (!names.has(collection)) {
      throw new NotFoundError('VECTORS_COLLECTION_NOT_FOUND', `no vector collection ${collection}`);
    }
    if (names.has(alias)) {
      throw new InputError('VECTORS_NAME_TAKEN', `${alias} is a collection; an alias needs its own name`, {
        status: 409,
      });
    }
    const previous = aliases.get(alias);
    if (previous === collection) return { previous };
    // One request, applied atomically by Qdrant: readers see the old target or the new one.
    const actions: Schemas['AliasOperations'][] = [];
    if (previous !== undefined) actions.push({ delete_alias: { alias_name: alias } });
    actions.push({ create_alias: { alias_name: alias, collection_name: collection } });
    await this.call('update aliases', (c) => c.updateCollectionAliases({ actions }));
    this.distances.delete(alias);
    return { previous };
  }

  async getAlias(alias: string): Promise<string | undefined> {
    this.assertOpen();
    return (await this.aliasMap('read')).get(alias);
  }

  async listAliases(): Promise<Record<string, string>> {
    this.assertOpen();
    return Object.fromEntries([...(await this.aliasMap('read'))].sort(([a], [b]) => a.localeCompare(b)));
  }

  async deleteAlias(alias: string): Promise<void> {
    this.assertOpen();
    assertName(alias, 'alias');
    if (!(await this.aliasMap()).has(alias)) return;
    await this.call('update aliases', (c) =>
      c.updateCollectionAliases({ actions: [{ delete_alias: { alias_name: alias } }] }),
    );
  }

  async close(): Promise<void> {
    // The REST client holds only pooled keep-alive sockets, which close on their own.
    this.closed = true;
  }

  /** A request to Qdrant with the retry policy of its kind (reads: short, with a deadline). */
  private call<T>(what: string, fn: (client: QdrantClient) => Promise<T>, kind: Kind = 'write'): Promise<T> {
    return kind === 'read'
      ? withRetry(what, () => fn(this.readClient), this.readRetry)
      : withRetry(what, () => fn(this.client), this.retry);
  }

  private async aliasMap(kind: Kind = 'write'): Promise<Map<string, string>> {
    const res = await this.call('list aliases', (c) => c.getAliases(), kind);
    return new Map(res.aliases.map((a) => [a.alias_name, a.collection_name]));
  }

  /** Spec of a collection or an alias's target; NotFoundError when there is neither. */
  private async specOfExisting(name: string, kind: Kind = 'write'): Promise<CollectionSpec> {
    const real = (await this.aliasMap(kind)).get(name) ?? name;
    try {
      return specOf(real, await this.call('get collection', (c) => c.getCollection(real), kind));
    } catch (err) {
      if (err instanceof NotFoundError) {
        throw new NotFoundError('VECTORS_COLLECTION_NOT_FOUND', `no vector collection or alias ${name}`);
      }
      throw err;
    }
  }

  /**
   * Distance of a collection or alias, cached briefly: Qdrant's Euclid scores are distances and
   * must be converted, but a search should not cost two more round trips to find that out.
   */
  private async distanceOf(name: string): Promise<Distance> {
    const hit = this.distances.get(name);
    if (hit && Date.now() - hit.at < DISTANCE_CACHE_MS) return hit.distance;
    const { distance } = await this.specOfExisting(name, 'read');
    this.distances.set(name, { distance, at: Date.now() });
    return distance;
  }

  private assertOpen(): void {
    if (this.closed) throw new FeverError('VECTORS_CLOSED', 'the vector store is closed');
  }
}

function specOf(name: string, info: Schemas['CollectionInfo']): CollectionSpec {
  const vectors = info.config.params.vectors as
    | Schemas['VectorParams']
    | Record<string, Schemas['VectorParams']>;
  if (!vectors || typeof (vectors as Schemas['VectorParams']).size !== 'number') {
    throw new FeverError(
      'VECTORS_QDRANT_ERROR',
      `collection ${name} uses named vectors, which fever does not create`,
    );
  }
  const v = vectors as Schemas['VectorParams'];
  const distance = v.distance === 'Cosine' ? 'cosine' : v.distance === 'Euclid' ? 'euclid' : undefined;
  if (!distance) {
    throw new FeverError(
      'VECTORS_QDRANT_ERROR',
      `collection ${name} uses distance ${v.distance}, not Cosine/Euclid`,
    );
  }
  return { name, dims: v.size, distance };
}
