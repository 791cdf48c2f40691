/**
 * The metadata tables (Postgres and PGlite share them). drizzle-kit reads this file to generate
 * the SQL in /migrations, so every change here needs `npm run db:generate -w @fever/schema`.
 *
 * Statuses are text columns with CHECK constraints rather than Postgres enums: adding a value to
 * an enum cannot be used inside the transaction that adds it, a CHECK is one plain migration.
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  doublePrecision,
  foreignKey,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  real,
  text,
  timestamp,
  unique,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

export const IMAGE_STATUSES = ['pending', 'indexed', 'failed'] as const;
export type ImageStatus = (typeof IMAGE_STATUSES)[number];

/**
 * `interrupted`: the process running it in-process died (found so when fever next starts); it is
 * resumed, like a running run, when the same run is started again.
 */
export const RUN_STATUSES = ['queued', 'running', 'interrupted', 'succeeded', 'failed', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
/** A run in one of these states is picked up again when the same run is started. */
export const UNFINISHED_RUN_STATUSES = ['queued', 'running', 'interrupted'] as const satisfies RunStatus[];
/** A run in one of these states never changes again. */
export const FINISHED_RUN_STATUSES = ['succeeded', 'failed', 'cancelled'] as const satisfies RunStatus[];
export type FinishedRunStatus = (typeof FINISHED_RUN_STATUSES)[number];

/** CHECK (column IN (...)) from a list of literal strings that this file owns (never user input). */
function oneOf(column: string, values: readonly string[]) {
  return sql.raw(`${column} IN (${values.map((v) => `'${v}'`).join(', ')})`);
}

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();

export const collections = pgTable('collections', {
  id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
  name: text('name').notNull().unique(),
  description: text('description'),
  /**
   * Whether indexing stores an identity descriptor with each face (people, person-aware search).
   * On by default; a collection created without them says so in its description.
   */
  identityDescriptors: boolean('identity_descriptors').notNull().default(true),
  createdAt: createdAt(),
  /**
   * Set first when the collection is deleted: a delete that a crash interrupted is finished when
   * fever next opens, and until then the collection is hidden as if gone.
   */
  deletingAt: timestamp('deleting_at', { withTimezone: true }),
});

export const images = pgTable(
  'images',
  {
    id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
    collectionId: integer('collection_id')
      .notNull()
      .references(() => collections.id, { onDelete: 'cascade' }),
    sha256: text('sha256').notNull(),
    /** Where the bytes were read from: a path relative to the source root, or a URI. */
    uri: text('uri').notNull(),
    sizeBytes: bigint('size_bytes', { mode: 'number' }).notNull(),
    /** Known once the image is decoded. */
    width: integer('width'),
    height: integer('height'),
    status: text('status', { enum: IMAGE_STATUSES }).notNull().default('pending'),
    /** Faces found by the last successful indexing (0 is a valid answer). */
    faceCount: integer('face_count'),
    errorCode: text('error_code'),
    errorMessage: text('error_message'),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    // One row per content within a collection: re-scanning a source never duplicates an image.
    uniqueIndex('images_collection_sha256_uq').on(t.collectionId, t.sha256),
    // Target of faces' (image_id, collection_id) foreign key.
    unique('images_id_collection_uq').on(t.id, t.collectionId),
    index('images_collection_status_idx').on(t.collectionId, t.status),
    check('images_status_ck', oneOf('status', IMAGE_STATUSES)),
    check('images_sha256_ck', sql`sha256 ~ '^[0-9a-f]{64}$'`),
  ],
);

export const models = pgTable(
  'models',
  {
    id: text('id').notNull(),
    version: text('version').notNull(),
    /** Embedding dimensions. */
    dims: integer('dims').notNull(),
    /** Expression labels in the order of the model's probability output (faces.probs uses it). */
    labels: text('labels').array().notNull(),
    /** sha256 of the ONNX file, so one id@version can never stand for two different weights. */
    fileSha256: text('file_sha256'),
    manifest: jsonb('manifest').$type<Record<string, unknown>>(),
    /**
     * Where the manifest was last loaded from: a serving process loads this version from it while
     * the model's alias points here and its own encoder is another version.
     */
    manifestPath: text('manifest_path'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.id, t.version], name: 'models_pk' })],
);

export const faces = pgTable(
  'faces',
  {
    /** The vector store point id: deterministic, see facePointId(). */
    id: uuid('id').primaryKey(),
    imageId: integer('image_id').notNull(),
    /**
     * Denormalised from images so counts per collection need no join over millions of rows; the
     * composite foreign key below keeps it equal to the image's collection.
     */
    collectionId: integer('collection_id').notNull(),
    faceIndex: integer('face_index').notNull(),
    /** Box in source-image pixels. */
    boxX: doublePrecision('box_x').notNull(),
    boxY: doublePrecision('box_y').notNull(),
    boxWidth: doublePrecision('box_width').notNull(),
    boxHeight: doublePrecision('box_height').notNull(),
    detectionScore: real('detection_score').notNull(),
    /** Expression probabilities in the order of models.labels. */
    probs: real('probs').array().notNull(),
    label: text('label').notNull(),
    modelId: text('model_id').notNull(),
    modelVersion: text('model_version').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    foreignKey({
      name: 'faces_image_fk',
      columns: [t.imageId, t.collectionId],
      foreignColumns: [images.id, images.collectionId],
    }).onDelete('cascade'),
    foreignKey({
      name: 'faces_model_fk',
      columns: [t.modelId, t.modelVersion],
      foreignColumns: [models.id, models.version],
    }),
    // Leads with image_id, so it also serves "faces of an image".
    uniqueIndex('faces_image_face_model_uq').on(t.imageId, t.faceIndex, t.modelId, t.modelVersion),
    index('faces_collection_model_idx').on(t.collectionId, t.modelId, t.modelVersion),
    check('faces_face_index_ck', sql`face_index >= 0`),
  ],
);

/**
 * A face's identity descriptor (face-api-recognition's 128-d, unit length): two faces of one
 * person are close. Written with the face in the write stage's transaction; gone with it.
 */
export const faceIdentities = pgTable(
  'face_identities',
  {
    faceId: uuid('face_id')
      .primaryKey()
      .references(() => faces.id, { onDelete: 'cascade' }),
    /** Denormalised from faces: a collection's descriptors load without a join over its faces. */
    collectionId: integer('collection_id')
      .notNull()
      .references(() => collections.id, { onDelete: 'cascade' }),
    /** The identity model that made the descriptor, `id@version`: two models never mix. */
    model: text('model').notNull(),
    descriptor: real('descriptor').array().notNull(),
    /** The person (cluster) the last clustering put the face in; null until one has run. */
    personId: integer('person_id').references(() => people.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
  },
  (t) => [
    index('face_identities_collection_idx').on(t.collectionId),
    index('face_identities_person_idx').on(t.personId),
  ],
);

/**
 * People of a collection: clusters of its faces by identity descriptor (@fever/people). Ids are
 * stable across re-clusterings (a cluster keeps the id of the old one it overlaps most), so a
 * name set on a person stays with them.
 */
export const people = pgTable(
  'people',
  {
    id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
    collectionId: integer('collection_id')
      .notNull()
      .references(() => collections.id, { onDelete: 'cascade' }),
    /** Set by a user; null until then. */
    name: text('name'),
    /** Faces in the person as the last clustering left them. */
    faceCount: integer('face_count').notNull().default(0),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('people_collection_faces_idx').on(t.collectionId, t.faceCount),
    check('people_name_ck', sql`name IS NULL OR char_length(name) BETWEEN 1 AND 200`),
  ],
);

export const indexRuns = pgTable(
  'index_runs',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    collectionId: integer('collection_id')
      .notNull()
      .references(() => collections.id, { onDelete: 'cascade' }),
    modelId: text('model_id').notNull(),
    modelVersion: text('model_version').notNull(),
    status: text('status', { enum: RUN_STATUSES }).notNull().default('queued'),
    /** What was indexed (a folder, a URI list), as the user gave it. */
    source: text('source'),
    params: jsonb('params').$type<Record<string, unknown>>().notNull().default({}),
    // Counters only ever grow by atomic increments (many workers report into one run).
    imagesSeen: bigint('images_seen', { mode: 'number' }).notNull().default(0),
    imagesIndexed: bigint('images_indexed', { mode: 'number' }).notNull().default(0),
    imagesSkipped: bigint('images_skipped', { mode: 'number' }).notNull().default(0),
    imagesFailed: bigint('images_failed', { mode: 'number' }).notNull().default(0),
    facesIndexed: bigint('faces_indexed', { mode: 'number' }).notNull().default(0),
    // Time spent per stage summed over all workers, in milliseconds.
    decodeMs: bigint('decode_ms', { mode: 'number' }).notNull().default(0),
    detectMs: bigint('detect_ms', { mode: 'number' }).notNull().default(0),
    embedMs: bigint('embed_ms', { mode: 'number' }).notNull().default(0),
    writeMs: bigint('write_ms', { mode: 'number' }).notNull().default(0),
    errorCode: text('error_code'),
    errorMessage: text('error_message'),
    createdAt: createdAt(),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    /**
     * When discovery finished walking the source (imagesSeen is then final). A run completes
     * when this is set and every discovered entry has an outcome in index_run_entries.
     */
    discoveredAt: timestamp('discovered_at', { withTimezone: true }),
  },
  (t) => [
    foreignKey({
      name: 'index_runs_model_fk',
      columns: [t.modelId, t.modelVersion],
      foreignColumns: [models.id, models.version],
    }),
    index('index_runs_collection_status_idx').on(t.collectionId, t.status, t.createdAt),
    index('index_runs_status_idx').on(t.status, t.createdAt),
    // One unfinished run per collection, source, model version and mode: two identical
    // requests at once resume one run rather than start two that count the same images.
    uniqueIndex('index_runs_unfinished_uq')
      .on(t.collectionId, t.source, t.modelId, t.modelVersion, sql`(${t.params}->>'mode')`)
      .where(oneOf('status', UNFINISHED_RUN_STATUSES)),
    check('index_runs_status_ck', oneOf('status', RUN_STATUSES)),
  ],
);

export const ENTRY_OUTCOMES = ['pending', 'indexed', 'skipped', 'failed'] as const;
export type EntryOutcome = (typeof ENTRY_OUTCOMES)[number];

/**
 * The ledger of an index run: one row per source entry (a file, an archive member, a line of a
 * list), written `pending` by discovery and moved to its outcome exactly once, in the same
 * transaction as the faces and the run counters it adds. A replayed or retried job finds the
 * row already moved and adds nothing, so counts stay exact however often work is repeated.
 */
export const indexRunEntries = pgTable(
  'index_run_entries',
  {
    runId: uuid('run_id')
      .notNull()
      .references(() => indexRuns.id, { onDelete: 'cascade' }),
    /** Where the entry was read from: an absolute path, or `<archive>!/<member>`. */
    uri: text('uri').notNull(),
    outcome: text('outcome', { enum: ENTRY_OUTCOMES }).notNull().default('pending'),
    /** The image row of the entry's content; null when its bytes could not be read. */
    imageId: integer('image_id').references(() => images.id, { onDelete: 'set null' }),
    faceCount: integer('face_count'),
    errorCode: text('error_code'),
    errorMessage: text('error_message'),
    createdAt: createdAt(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [
    primaryKey({ columns: [t.runId, t.uri], name: 'index_run_entries_pk' }),
    index('index_run_entries_run_outcome_idx').on(t.runId, t.outcome),
    check('index_run_entries_outcome_ck', oneOf('outcome', ENTRY_OUTCOMES)),
  ],
);

/**
 * "This image has been embedded by this model version" (with how many faces it has, 0 included).
 * Written in the same transaction as the faces, after their vectors: a marker implies both.
 * `--mode missing` skips an image that has one.
 */
export const imageEmbeddings = pgTable(
  'image_embeddings',
  {
    imageId: integer('image_id')
      .notNull()
      .references(() => images.id, { onDelete: 'cascade' }),
    modelId: text('model_id').notNull(),
    modelVersion: text('model_version').notNull(),
    faceCount: integer('face_count').notNull(),
    runId: uuid('run_id').references(() => indexRuns.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.imageId, t.modelId, t.modelVersion], name: 'image_embeddings_pk' }),
    foreignKey({
      name: 'image_embeddings_model_fk',
      columns: [t.modelId, t.modelVersion],
      foreignColumns: [models.id, models.version],
    }),
    check('image_embeddings_face_count_ck', sql`face_count >= 0`),
  ],
);

/**
 * Small facts about this database (key → value), such as `deployment_id`: a random id made on
 * first use that names this deployment's job queues, so two deployments (or two test databases)
 * sharing one Redis never take each other's jobs.
 */
export const settings = pgTable('settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
  createdAt: createdAt(),
});

export const evalRuns = pgTable(
  'eval_runs',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    modelId: text('model_id').notNull(),
    modelVersion: text('model_version').notNull(),
    status: text('status', { enum: RUN_STATUSES }).notNull().default('queued'),
    /** Dataset, split, limits: everything needed to rerun it. */
    params: jsonb('params').$type<Record<string, unknown>>().notNull().default({}),
    /** Headline numbers (e.g. triplet accuracy overall and per type). */
    metrics: jsonb('metrics').$type<Record<string, unknown>>(),
    /** The full report (per-type counts, skipped triplets and why). */
    report: jsonb('report').$type<Record<string, unknown>>(),
    errorCode: text('error_code'),
    errorMessage: text('error_message'),
    createdAt: createdAt(),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [
    foreignKey({
      name: 'eval_runs_model_fk',
      columns: [t.modelId, t.modelVersion],
      foreignColumns: [models.id, models.version],
    }),
    index('eval_runs_model_idx').on(t.modelId, t.modelVersion, t.createdAt),
    index('eval_runs_status_idx').on(t.status, t.createdAt),
    check('eval_runs_status_ck', oneOf('status', RUN_STATUSES)),
  ],
);

export type CollectionRow = typeof collections.$inferSelect;
export type ImageRow = typeof images.$inferSelect;
export type ModelRow = typeof models.$inferSelect;
export type FaceRow = typeof faces.$inferSelect;
export type NewFaceRow = typeof faces.$inferInsert;
export type IndexRunRow = typeof indexRuns.$inferSelect;
export type FaceIdentityRow = typeof faceIdentities.$inferSelect;
export type PersonRow = typeof people.$inferSelect;
export type EvalRunRow = typeof evalRuns.$inferSelect;
export type IndexRunEntryRow = typeof indexRunEntries.$inferSelect;
export type ImageEmbeddingRow = typeof imageEmbeddings.$inferSelect;
