/**
 * HTTP request/response shapes of the query API. Requests are parsed with these schemas at the
 * edge; responses are typed by them so the web page and clients share one definition.
 */
import { z } from 'zod';

/** Lower-case, URL-safe and usable inside vector-store collection names. */
export const collectionNameSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, {
  message: 'must be 1-63 characters of a-z, 0-9, _ or -, starting with a letter or digit',
});

export const createCollectionRequestSchema = z.strictObject({
  name: collectionNameSchema,
  description: z.string().max(1000).optional(),
});
export type CreateCollectionRequest = z.infer<typeof createCollectionRequestSchema>;

export const collectionResponseSchema = z.object({
  name: z.string(),
  description: z.string().nullable(),
  createdAt: z.iso.datetime(),
});
export type CollectionResponse = z.infer<typeof collectionResponseSchema>;

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
});
export type FaceResult = z.infer<typeof faceResultSchema>;

/** A face found in the example image, with its nearest neighbours. */
export const queryFaceResultSchema = z.object({
  faceIndex: z.number().int().min(0),
  box: boxSchema,
  detectionScore: z.number(),
  label: z.string(),
  probs: z.record(z.string(), z.number()),
  results: z.array(faceResultSchema),
});
export type QueryFaceResult = z.infer<typeof queryFaceResultSchema>;

export const searchResponseSchema = z.object({
  model: modelRefSchema,
  /** One entry per selected face of the example; empty when it has no face. */
  faces: z.array(queryFaceResultSchema),
  tookMs: z.number().nonnegative(),
});
export type SearchResponse = z.infer<typeof searchResponseSchema>;

/** Every non-2xx response body. `code` is stable (FeverError.code), `message` is for humans. */
export const errorResponseSchema = z.object({
  error: z.object({ code: z.string(), message: z.string() }),
});
export type ErrorResponse = z.infer<typeof errorResponseSchema>;
