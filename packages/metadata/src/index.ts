export type { MetadataDriver } from './db.ts';
export { migratePostgres } from './drivers/postgres.ts';
export {
  type MigrateResult,
  type MigrationStatus,
  migrateMetadata,
  readMigrationStatus,
  type ShippedMigration,
  shippedMigrations,
} from './migration-status.ts';
export type { Collection, NewCollection } from './repositories/collections.ts';
export type { EvalRun, EvalRunUpdate, NewEvalRun } from './repositories/eval-runs.ts';
export type { Face, FaceIdentity, FaceModelFilter, NewFace } from './repositories/faces.ts';
export type { FaceIdentityInfo, IdentitiesRepository, StoredIdentity } from './repositories/identities.ts';
export type { Image, ImageStatusUpdate, NewImage } from './repositories/images.ts';
export {
  INDEX_RUN_COUNTERS,
  type IndexRun,
  type IndexRunCounter,
  type IndexRunCounts,
  type NewIndexRun,
  type RunOutcome,
} from './repositories/index-runs.ts';
export type {
  EntryResult,
  IndexingRepository,
  IndexRunEntry,
  ModelKey,
  NewImageRef,
  RecordBatch,
  RecordResult,
} from './repositories/indexing.ts';
export type { Model, NewModel } from './repositories/models.ts';
export {
  type ClusterAssignment,
  MAX_PERSON_NAME,
  type PeopleRepository,
  type Person,
  type PersonFace,
} from './repositories/people.ts';
export {
  type MetadataOptions,
  type MetadataStore,
  metadataOptionsFromConfig,
  openMetadataStore,
} from './store.ts';
