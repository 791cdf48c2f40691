export {
  type Box,
  boxSchema,
  type CollectionResponse,
  type CreateCollectionRequest,
  collectionNameSchema,
  collectionResponseSchema,
  createCollectionRequestSchema,
  type ErrorResponse,
  errorResponseSchema,
  type FaceResult,
  type FaceSelection,
  faceResultSchema,
  faceSelectionSchema,
  type ModelRef,
  modelRefSchema,
  type QueryFaceResult,
  queryFaceResultSchema,
  type SearchFilter,
  type SearchRequest,
  type SearchRequestInput,
  type SearchResponse,
  searchFilterSchema,
  searchRequestSchema,
  searchResponseSchema,
} from './api.ts';
export {
  type Config,
  DEVICES,
  type Device,
  type EnvVar,
  envSchema,
  LOG_LEVELS,
  type LogLevel,
  parseConfig,
  type RuntimeMode,
  redactConfig,
  runtimeMode,
} from './config.ts';
export { MIGRATIONS_FOLDER } from './migrations-folder.ts';
export { FACE_POINT_NAMESPACE, type FacePointKey, facePointId } from './point-id.ts';
export * from './tables.ts';
export { DNS_NAMESPACE, isUuid, uuidV5 } from './uuid-v5.ts';
