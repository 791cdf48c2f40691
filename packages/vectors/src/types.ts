/**
 * The vector store contract. Two adapters implement it (embedded usearch, Qdrant) and one
 * contract test suite (src/testing/contract.ts) holds both to it.
 *
 * Naming: a *vector collection* (the `collection` argument of every method) is the store-level
 * container of one model's vectors, e.g. `faces__face-api-expression__1-0-0`; an alias may be
 * given wherever a vector collection name is accepted. `payload.collection` is something else:
 * the fever image collection (a photo archive) the face came from, which `filter.collections`
 * matches.
 */

export type Distance = 'cosine' | 'euclid';

export interface CollectionSpec {
  name: string;
  dims: number;
  distance: Distance;
}

export interface CollectionInfo extends CollectionSpec {
  /** Live points (deleted ones excluded). */
  count: number;
}

/** What fever stores with every face vector; extra JSON-serialisable fields are kept as given. */
export interface PointPayload {
  /** The fever image collection (photo archive), not the vector collection. */
  collection: string;
  imageId: string;
  /** Top expression label. */
  label: string;
  /** Face detection score in [0, 1]; `filter.minScore` compares against it. */
  score: number;
  /** Model id+version that produced the vector. */
  model: string;
  [key: string]: unknown;
}

export interface Point {
  /** A UUID (fever uses uuid v5 of image sha256 + face index + model version). */
  id: string;
  vector: Float32Array;
  payload: PointPayload;
}

/**
 * Conditions are ANDed; values inside one list are ORed. An absent or empty list means "no
 * condition on this field" (deleteByFilter refuses a filter with no condition at all).
 */
export interface SearchFilter {
  collections?: readonly string[];
  labels?: readonly string[];
  /** Keep points whose payload.score ≥ minScore. */
  minScore?: number;
}

export interface SearchOptions {
  k: number;
  filter?: SearchFilter;
  /** Point ids never to return (e.g. the query face itself). */
  excludeIds?: readonly string[];
  /** Exhaustive scan instead of the ANN index: slow, for checks and small sets. */
  exact?: boolean;
}

export interface SearchHit {
  id: string;
  /**
   * Similarity, higher is closer: cosine similarity in [-1, 1] for 'cosine'; 1 / (1 + L2
   * distance) in (0, 1] for 'euclid'. Both adapters report the same number for the same pair.
   */
  score: number;
  payload: PointPayload;
}

export interface StoredPoint {
  id: string;
  /** As stored: unit length for 'cosine' collections (both adapters normalise on write). */
  vector: Float32Array;
  payload: PointPayload;
}

export interface VectorStore {
  readonly kind: 'embedded' | 'qdrant';

  /** Creates the collection, or checks that an existing one has the same dims and distance. */
  ensureCollection(spec: CollectionSpec): Promise<void>;
  /** undefined when neither a collection nor an alias has this name. */
  describeCollection(name: string): Promise<CollectionInfo | undefined>;
  /** Drops the collection and the aliases that point at it; no error when it does not exist. */
  dropCollection(name: string): Promise<void>;

  /** Insert or replace by id (idempotent: the same id twice leaves one point). Batched inside. */
  upsert(collection: string, points: readonly Point[]): Promise<void>;
  deleteByIds(collection: string, ids: readonly string[]): Promise<void>;
  deleteByImage(collection: string, imageId: string): Promise<void>;
  deleteByFilter(collection: string, filter: SearchFilter): Promise<void>;

  search(collection: string, vector: Float32Array, options: SearchOptions): Promise<SearchHit[]>;
  /** The points that exist, in the order asked; unknown ids are left out. */
  get(collection: string, ids: readonly string[]): Promise<StoredPoint[]>;
  count(collection: string, filter?: SearchFilter): Promise<number>;

  /**
   * Points `alias` at `collection` in one atomic step (creating the alias if needed), so
   * readers move from the old model's collection to the new one with no gap. Returns the
   * collection the alias pointed at before, if any.
   */
  swapAlias(alias: string, collection: string): Promise<{ previous: string | undefined }>;
  getAlias(alias: string): Promise<string | undefined>;
  listAliases(): Promise<Record<string, string>>;
  deleteAlias(alias: string): Promise<void>;

  /** Flushes and releases resources; the store cannot be used afterwards. */
  close(): Promise<void>;
}
