/**
 * HTTP request/response shapes of the query API. Requests are parsed with these schemas at the
 * edge; responses are typed by them so the web page and clients share one definition.
 */
import { z } from 'zod';
import { RUN_STATUSES } from './tables.ts';

/** Lower-case, URL-safe and usable inside vector-store collection names. */
export const collectionNameSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, {
  message: 'must be 1-63 characters of a-z, 0-9, _ or -, starting with a letter or digit',
});

export const createCollectionRequestSchema = z.strictObject({
  name: collectionNameSchema,
  description: z.string().max(1000).optional(),
  identityDescriptors: z
    .boolean()
    .optional()
    .describe('store an identity descriptor with each face (people, person-aware search); default true'),
});
export type CreateCollectionRequest = z.infer<typeof createCollectionRequestSchema>;

export const collectionResponseSchema = z.object({
  name: z.string(),
  description: z.string().nullable(),
  createdAt: z.iso.datetime(),
  /**
   * Whether its faces get identity descriptors when indexed. A collection indexed without them
   * has no people, and searches with `person` or `diverse` answer 400 for it.
   */
  identityDescriptors: z.boolean(),
});
export type CollectionResponse = z.infer<typeof collectionResponseSchema>;

export const collectionListResponseSchema = z.object({ collections: z.array(collectionResponseSchema) });
export type CollectionListResponse = z.infer<typeof collectionListResponseSchema>;

/** One collection with what it holds. */
export const collectionDetailResponseSchema = collectionResponseSchema.extend({
  images: z.object({
    pending: z.number().int(),
    indexed: z.number().int(),
    failed: z.number().int(),
  }),
  /** Faces of every model version. */
  faces: z.number().int(),
  /** Faces that have an identity descriptor (0 for a collection indexed without them). */
  facesWithIdentity: z.number().int(),
});
export type CollectionDetailResponse = z.infer<typeof collectionDetailResponseSchema>;

export const deleteCollectionResponseSchema = z.object({
  name: z.string(),
  /** Faces whose metadata (and vectors, in every model's vector collection) were deleted. */
  faces: z.number().int(),
  images: z.number().int(),
});
export type DeleteCollectionResponse = z.infer<typeof deleteCollectionResponseSchema>;

/** Box in source-image pixels. */
export const boxSchema = z.object({
  x: z.number(),
  y: z.number(),
  width: z.number().nonnegative(),
  height: z.number().nonnegative(),
});
export type Box = z.infer<typeof boxSchema>;

/** Which face(s) of the example image to search with. */
export const faceSelectionSchema = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('largest') }),
  z.strictObject({ mode: z.literal('index'), index: z.number().int().min(0) }),
  z.strictObject({ mode: z.literal('all') }),
  /** The whole image is the face (a face crop), without detection. */
  z.strictObject({ mode: z.literal('whole') }),
]);
export type FaceSelection = z.infer<typeof faceSelectionSchema>;

export const searchFilterSchema = z.strictObject({
  /** Only faces in these collections; absent → every collection. */
  collections: z.array(collectionNameSchema).min(1).max(100).optional(),
  /** Only faces whose top expression label is one of these. */
  labels: z.array(z.string().min(1)).min(1).max(50).optional(),
  /** Only faces whose detection score is at least this. */
  minScore: z.number().min(0).max(1).optional(),
});
export type SearchFilter = z.infer<typeof searchFilterSchema>;

/** The parameters of a search by example; the example image itself travels beside them. */
export const searchRequestSchema = z.strictObject({
  k: z.number().int().min(1).max(1000).default(10),
  filter: searchFilterSchema.optional(),
  face: faceSelectionSchema.default({ mode: 'largest' }),
});
/** As the client sends it (defaults may be omitted). */
export type SearchRequestInput = z.input<typeof searchRequestSchema>;
/** After parsing (defaults filled in). */
export type SearchRequest = z.output<typeof searchRequestSchema>;

export const modelRefSchema = z.object({ id: z.string(), version: z.string() });
export type ModelRef = z.infer<typeof modelRefSchema>;

/** One indexed face, as a search hit. */
export const faceResultSchema = z.object({
  /** Point id (uuid). */
  id: z.uuid(),
  /** Similarity to the query face, higher is closer (cosine similarity for unit vectors). */
  similarity: z.number(),
  collection: z.string(),
  image: z.object({
    id: z.number().int(),
    sha256: z.string(),
    uri: z.string(),
    width: z.number().int().nullable(),
    height: z.number().int().nullable(),
  }),
  faceIndex: z.number().int().min(0),
  box: boxSchema,
  detectionScore: z.number(),
  label: z.string(),
  /** Expression probabilities by label. */
  probs: z.record(z.string(), z.number()),
  /** The person (cluster) the face belongs to; null before the collection's people are clustered. */
  personId: z.number().int().nullable().optional(),
  /**
   * With `fold=true`: this result stands for `count` faces, itself and the near-duplicates folded
   * into it (same person, near-identical expression), whose ids `faceIds` lists.
   */
  folded: z.object({ count: z.number().int().min(1), faceIds: z.array(z.uuid()) }).optional(),
  /**
   * Where the API serves the photo as indexed, a JPEG preview of it, and a crop of this face
   * (relative to the API's root).
   */
  urls: z.object({ image: z.string(), preview: z.string(), thumbnail: z.string() }).optional(),
});
export type FaceResult = z.infer<typeof faceResultSchema>;

/** A face found in the example image, with its nearest neighbours. */
export const queryFaceResultSchema = z.object({
  faceIndex: z.number().int().min(0),
  /**
   * `detected`: a face the detector found. `whole-image`: the whole image taken as the face, because
   * `face=whole` asked for it or because the detector found no face (an upload that is a face crop).
   */
  source: z.enum(['detected', 'whole-image']),
  box: boxSchema,
  detectionScore: z.number(),
  label: z.string(),
  probs: z.record(z.string(), z.number()),
  results: z.array(faceResultSchema),
});
export type QueryFaceResult = z.infer<typeof queryFaceResultSchema>;

/** Milliseconds spent per stage of a search by example. */
export const searchTimingsSchema = z.object({
  decodeMs: z.number().nonnegative(),
  encodeMs: z.number().nonnegative(),
  searchMs: z.number().nonnegative(),
});
export type SearchTimings = z.infer<typeof searchTimingsSchema>;

export const searchResponseSchema = z.object({
  model: modelRefSchema,
  /** The example image as decoded (EXIF orientation applied): face boxes are in these pixels. */
  image: z.object({ width: z.number().int(), height: z.number().int(), sha256: z.string() }).optional(),
  /** One entry per selected face of the example; empty when it has no face. */
  faces: z.array(queryFaceResultSchema),
  k: z.number().int().optional(),
  offset: z.number().int().optional(),
  timings: searchTimingsSchema.optional(),
  tookMs: z.number().nonnegative(),
});
export type SearchResponse = z.infer<typeof searchResponseSchema>;

/**
 * Query-string parameters shared by the search endpoints (`?k=20&collection=a,b&label=happy`).
 * A list parameter may repeat or hold comma-separated values.
 */
const listParam = z.preprocess(
  (value) =>
    value === undefined
      ? undefined
      : (Array.isArray(value) ? value : [value])
          .flatMap((v) => String(v).split(','))
          .map((v) => v.trim())
          .filter((v) => v !== ''),
  z.array(z.string()).optional(),
);

/**
 * `person=other`: leave out the query's own person; `person=<id>`: only that person's faces,
 * ranked by expression. Both need a collection indexed with identity descriptors.
 */
export const personParamSchema = z
  .union([
    z.literal('other'),
    z.string().regex(/^[1-9]\d{0,9}$/, { message: "must be 'other' or a person id" }),
  ])
  .transform(
    (v): PersonSelection => (v === 'other' ? { mode: 'other' } : { mode: 'only', personId: Number(v) }),
  );
export type PersonSelection = { mode: 'other' } | { mode: 'only'; personId: number };

/** `diverse=N`: at most N results per person; `diverse=true`: one. */
export const diverseParamSchema = z
  .union([
    z.literal('true'),
    z.string().regex(/^\d{1,3}$/, { message: 'must be true or a number of results per person' }),
  ])
  .transform((v) => (v === 'true' ? 1 : Number(v)))
  .pipe(z.number().int().min(1).max(100));

export const searchQuerySchema = z.strictObject({
  k: z.coerce.number().int().min(1).max(1000).default(10),
  /** Skip this many neighbours (pagination); offset + k ≤ 1000. */
  offset: z.coerce.number().int().min(0).max(999).default(0),
  /** Only faces in these collections. */
  collection: listParam.pipe(z.array(collectionNameSchema).max(100).optional()),
  /** Only faces whose top expression label is one of these. */
  label: listParam.pipe(z.array(z.string().min(1).max(64)).max(50).optional()),
  /** Only faces detected with at least this score. */
  minScore: z.coerce.number().min(0).max(1).optional(),
  person: personParamSchema
    .optional()
    .describe(
      "`other`: leave out the query's own person; a person id: only that person's faces, ranked by expression",
    ),
  diverse: diverseParamSchema.optional().describe('at most this many results per person (`true`: one)'),
  fold: z
    .enum(['true', 'false'])
    .optional()
    .transform((v) => v === 'true')
    .describe('fold near-duplicates (same person, near-identical expression) into one result with a count'),
});
export type SearchQuery = z.output<typeof searchQuerySchema>;

/**
 * `?face=` of a search by example: `largest` (default), `all`, a face index from 0, or `whole` (the
 * whole image is the face: no detection).
 */
export const faceParamSchema = z
  .union([
    z.enum(['largest', 'all', 'whole']),
    z.string().regex(/^\d{1,4}$/, { message: 'must be largest, all, whole or a face index' }),
  ])
  .default('largest')
  .transform(
    (v): FaceSelection =>
      v === 'largest' || v === 'all' || v === 'whole' ? { mode: v } : { mode: 'index', index: Number(v) },
  );

export const searchImageQuerySchema = searchQuerySchema.extend({ face: faceParamSchema });
export type SearchImageQuery = z.output<typeof searchImageQuerySchema>;

/** A face as stored (no similarity: it is not a search hit). */
export const faceResponseSchema = faceResultSchema
  .omit({ similarity: true })
  .extend({ model: modelRefSchema });
export type FaceResponse = z.infer<typeof faceResponseSchema>;

/** Faces like an indexed face. */
export const similarFacesResponseSchema = z.object({
  model: modelRefSchema,
  face: faceResponseSchema,
  results: z.array(faceResultSchema),
  k: z.number().int(),
  offset: z.number().int(),
  tookMs: z.number().nonnegative(),
});
export type SimilarFacesResponse = z.infer<typeof similarFacesResponseSchema>;

/** Search with a vector from the running model (users with their own embeddings). */
export const vectorSearchRequestSchema = z.strictObject({
  vector: z.array(z.number()).min(1).max(65_536),
  k: z.number().int().min(1).max(1000).default(10),
  offset: z.number().int().min(0).max(999).default(0),
  filter: searchFilterSchema.optional(),
  /** `other` (needs `identity`) or a person id: as `?person=` of the other searches. */
  person: z
    .union([z.literal('other'), z.number().int().min(1)])
    .optional()
    .transform((v): PersonSelection | undefined =>
      v === undefined ? undefined : v === 'other' ? { mode: 'other' } : { mode: 'only', personId: v },
    ),
  /** At most this many results per person. */
  diverse: z.number().int().min(1).max(100).optional(),
  /** Fold near-duplicates (same person, near-identical expression) into one result with a count. */
  fold: z.boolean().optional(),
  /** The query's own identity descriptor (face-api-recognition, 128-d), for person=other. */
  identity: z.array(z.number()).min(1).max(4096).optional(),
});
export type VectorSearchRequest = z.output<typeof vectorSearchRequestSchema>;

export const vectorSearchResponseSchema = z.object({
  model: modelRefSchema,
  results: z.array(faceResultSchema),
  k: z.number().int(),
  offset: z.number().int(),
  tookMs: z.number().nonnegative(),
});
export type VectorSearchResponse = z.infer<typeof vectorSearchResponseSchema>;

export const imageResponseSchema = z.object({
  id: z.number().int(),
  collection: z.string(),
  sha256: z.string(),
  uri: z.string(),
  sizeBytes: z.number().int(),
  width: z.number().int().nullable(),
  height: z.number().int().nullable(),
  status: z.enum(['pending', 'indexed', 'failed']),
  faceCount: z.number().int().nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  faces: z.array(faceResponseSchema),
  urls: z.object({ file: z.string() }),
});
export type ImageResponse = z.infer<typeof imageResponseSchema>;

export const modelResponseSchema = z.object({
  id: z.string(),
  version: z.string(),
  dims: z.number().int(),
  labels: z.array(z.string()),
  createdAt: z.iso.datetime(),
  /** The model this server embeds queries with (searches use its vectors). */
  active: z.boolean(),
});
export const modelListResponseSchema = z.object({ models: z.array(modelResponseSchema) });
export type ModelListResponse = z.infer<typeof modelListResponseSchema>;

export const runStatusSchema = z.enum(RUN_STATUSES);

/** A path on the server, as a request names it: absolute (it is then confined to FEVER_INDEX_ROOTS). */
const serverPathSchema = z.string().min(1).max(4096).regex(/^\//, 'must be an absolute path');

/** Start indexing a server-side folder (it must lie under one of FEVER_INDEX_ROOTS). */
export const startIndexRunRequestSchema = z.strictObject({
  source: serverPathSchema,
  collection: collectionNameSchema,
  /** Create the collection when it does not exist (default true). */
  createCollection: z.boolean().default(true),
  /** `missing` (default): embed only images not embedded by the current model yet; `all`: re-embed all. */
  mode: z.enum(['missing', 'all']).default('missing'),
  batch: z.number().int().min(1).max(256).optional(),
  concurrency: z.number().int().min(1).max(64).optional(),
});
export type StartIndexRunRequest = z.output<typeof startIndexRunRequestSchema>;

export const indexRunResponseSchema = z.object({
  id: z.uuid(),
  collection: z.string().nullable(),
  model: modelRefSchema,
  status: runStatusSchema,
  source: z.string().nullable(),
  params: z.record(z.string(), z.unknown()),
  counts: z.object({
    imagesSeen: z.number().int(),
    imagesIndexed: z.number().int(),
    imagesSkipped: z.number().int(),
    imagesFailed: z.number().int(),
    facesIndexed: z.number().int(),
  }),
  timingsMs: z.object({
    decode: z.number(),
    detect: z.number(),
    embed: z.number(),
    write: z.number(),
  }),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  createdAt: z.iso.datetime(),
  startedAt: z.iso.datetime().nullable(),
  finishedAt: z.iso.datetime().nullable(),
});
export type IndexRunResponse = z.infer<typeof indexRunResponseSchema>;
export const indexRunListResponseSchema = z.object({ runs: z.array(indexRunResponseSchema) });

/**
 * Start an FEC triplet-agreement evaluation of the server's model. Paths are on the server and
 * must lie under FEVER_INDEX_ROOTS.
 */
export const startFecEvalRequestSchema = z
  .strictObject({
    /** The FEC-format CSV. */
    triplets: serverPathSchema,
    /** Folder the images are resolved from (by the URL's file name or path). */
    images: serverPathSchema.optional(),
    /** A CSV mapping URLs to local files. */
    map: serverPathSchema.optional(),
    distance: z.enum(['cosine', 'euclidean']).optional(),
    outputs: z
      .array(z.enum(['embedding', 'probs']))
      .min(1)
      .max(2)
      .optional(),
    bootstrapSamples: z.number().int().min(0).max(100_000).optional(),
    seed: z.number().int().optional(),
    gallerySize: z.number().int().min(0).max(200).optional(),
  })
  // Said in the document so clients (and fuzzers) know; the eval use case enforces it
  // (IMAGES_SOURCE_MISSING).
  .meta({ anyOf: [{ required: ['images'] }, { required: ['map'] }] });
export type StartFecEvalRequest = z.output<typeof startFecEvalRequestSchema>;

export const evalRunResponseSchema = z.object({
  id: z.uuid(),
  model: modelRefSchema,
  status: runStatusSchema,
  params: z.record(z.string(), z.unknown()),
  metrics: z.record(z.string(), z.unknown()).nullable(),
  /** While running: the phase and how far it is. */
  progress: z.object({ phase: z.string(), done: z.number(), total: z.number() }).nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  createdAt: z.iso.datetime(),
  startedAt: z.iso.datetime().nullable(),
  finishedAt: z.iso.datetime().nullable(),
  urls: z.object({ self: z.string(), report: z.string() }),
});
export type EvalRunResponse = z.infer<typeof evalRunResponseSchema>;
export const evalRunListResponseSchema = z.object({ runs: z.array(evalRunResponseSchema) });

export const healthResponseSchema = z.object({ status: z.literal('ok') });

const checkSchema = z.object({
  ok: z.boolean(),
  ms: z.number(),
  detail: z.string().optional(),
});
export const readyResponseSchema = z.object({
  status: z.enum(['ready', 'unavailable']),
  mode: z.object({ metadata: z.string(), vectors: z.string(), queue: z.string() }),
  checks: z.record(z.string(), checkSchema),
});
export type ReadyResponse = z.infer<typeof readyResponseSchema>;

/** Every non-2xx response body. `code` is stable (FeverError.code), `message` is for humans. */
export const errorResponseSchema = z.object({
  error: z.object({ code: z.string(), message: z.string() }),
});
export type ErrorResponse = z.infer<typeof errorResponseSchema>;

/** A person: a cluster of a collection's faces by identity descriptor. */
export const personSummarySchema = z.object({
  id: z.number().int(),
  collection: z.string(),
  /** Set by a user (PATCH /people/{id}); null until then. */
  name: z.string().nullable(),
  faceCount: z.number().int(),
  /** The person's face with the best detection score (its thumbnail: faces/{id}/thumbnail). */
  coverFaceId: z.uuid().nullable(),
});
export type PersonSummaryResponse = z.infer<typeof personSummarySchema>;

export const personListResponseSchema = z.object({
  collection: z.string(),
  /** People in the collection, all pages. */
  total: z.number().int(),
  people: z.array(personSummarySchema),
});
export type PersonListResponse = z.infer<typeof personListResponseSchema>;

export const personListQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});

/** One face of a person, as their page lists it. */
export const personFaceSchema = z.object({
  faceId: z.uuid(),
  imageId: z.number().int(),
  faceIndex: z.number().int(),
  label: z.string(),
  detectionScore: z.number(),
});

/** A person with their faces grouped by top expression label: one row per expression. */
export const personDetailResponseSchema = personSummarySchema.extend({
  expressions: z.array(
    z.object({ label: z.string(), count: z.number().int(), faces: z.array(personFaceSchema) }),
  ),
});
export type PersonDetailResponse = z.infer<typeof personDetailResponseSchema>;

export const personDetailQuerySchema = z.strictObject({
  perExpression: z.coerce
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(24)
    .describe('faces listed per expression (the count covers them all)'),
});

export const renamePersonRequestSchema = z.strictObject({
  /** 1-200 characters, not only spaces (trimmed); null clears the name. */
  // The rule is said in the document and enforced by the people use case (INVALID_PERSON_NAME).
  name: z.string().meta({ minLength: 1, maxLength: 200, pattern: '\\S' }).nullable(),
});
export type RenamePersonRequest = z.infer<typeof renamePersonRequestSchema>;

export const clusterPeopleRequestSchema = z.strictObject({
  /** Cosine distance under which two faces link (default 0.04). */
  threshold: z.number().min(0).max(2).optional(),
  /** Nearest faces each face may link to (default 5). */
  neighbours: z.number().int().min(1).max(100).optional(),
});
export type ClusterPeopleRequest = z.infer<typeof clusterPeopleRequestSchema>;

export const clusteringResponseSchema = z.object({
  collection: z.string(),
  faces: z.number().int(),
  people: z.number().int(),
  /** People that kept their id (and name) from the clustering before. */
  kept: z.number().int(),
  created: z.number().int(),
  /** Old people merged into others or gone. */
  retired: z.number().int(),
  threshold: z.number(),
  neighbours: z.number().int(),
  ms: z.number().int(),
});
export type ClusteringResponse = z.infer<typeof clusteringResponseSchema>;
