/**
 * @fever/vectors: where face embeddings live and how they are searched.
 *
 * One interface (VectorStore), two adapters: EmbeddedVectorStore (usearch HNSW on local disk,
 * the zero-set-up default) and QdrantVectorStore (QDRANT_URL). Error codes, all VECTORS_*:
 * INVALID_NAME, INVALID_DIMS, INVALID_DISTANCE, INVALID_ID, INVALID_VECTOR, DIMS_MISMATCH,
 * INVALID_PAYLOAD, INVALID_POINT, INVALID_FILTER, EMPTY_FILTER, INVALID_QUERY, INVALID_ALIAS,
 * INVALID_OPTION, NAME_TAKEN, NAME_IS_ALIAS, COLLECTION_MISMATCH, COLLECTION_NOT_FOUND,
 * REJECTED, AUTH, UNAVAILABLE (transient), LOCKED (transient), CORRUPT, INDEX_FAILED,
 * COLLECTION_FAILED, QDRANT_ERROR, CLOSED.
 */
export type { Dtype } from './embedded/collection.ts';
export { type EmbeddedOptions, EmbeddedVectorStore } from './embedded/store.ts';
// The float16 codec of the store's f16 copies (Node 20 has no Float16Array); the trainer's
// float16 feature maps use it too.
export { f16ToF32Table, f32ToF16 } from './math.ts';
export { modelAliasName, modelCollectionName } from './names.ts';
export { openVectorStore, type VectorStoreConfig } from './open.ts';
export type { RetryOptions } from './qdrant/retry.ts';
export { type QdrantOptions, QdrantVectorStore } from './qdrant/store.ts';
export type {
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
} from './types.ts';
