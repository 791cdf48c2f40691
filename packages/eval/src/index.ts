// Building blocks for other packages that embed labelled sets (the head trainer).
export { EMBEDDING_OUTPUTS, EmbeddingCache, type EmbeddingOutput } from './embed/cache.ts';
export { DISTANCES, type DistanceName } from './embed/distance.ts';
export { embedImageFaces, hashImages } from './embed/faces.ts';
export type { ModelRef } from './embed/model.ts';
export { ModelHandle } from './embed/model.ts';
export {
  formatFecCsv,
  type GeneratedTriplet,
  type MakeTripletsOptions,
  makeTriplets,
} from './fec/generate.ts';
export { humanAgreement, majorityAnswer } from './fec/majority.ts';
export type { SubsetStats } from './fec/metrics.ts';
export { type ParsedFec, parseFecCsv } from './fec/parse.ts';
export type {
  FecEvalParams,
  FecEvalResult,
  FecReport,
  FecVariantMetrics,
  GalleryItem,
  SkipReason,
} from './fec/result.ts';
export { type FecEvalOptions, runFecEval } from './fec/run.ts';
export type {
  Annotation,
  Answer,
  FecTriplet,
  FractionBox,
  MalformedCode,
  MalformedRow,
  TripletType,
} from './fec/types.ts';
export { WHOLE_IMAGE } from './fec/types.ts';
export { type LabelledImage, readLabels } from './labels.ts';
export { type DescribedFace, describeFaces, personFromName } from './people/describe.ts';
export {
  PEOPLE_TOP_K,
  type PeopleEvalOptions,
  type PeopleEvalResult,
  runPeopleEval,
  type SearchModeFigures,
} from './people/run.ts';
export type { EvalPhase, EvalProgress, ProgressCallback } from './progress.ts';
export type {
  FaceMode,
  RetrievalEvalResult,
  RetrievalReport,
  RetrievalVariantMetrics,
} from './retrieval/result.ts';
export { PERSON_CLUSTER, type RetrievalEvalOptions, runRetrievalEval } from './retrieval/run.ts';
export type { AccuracyStat } from './stats/accuracy.ts';
export { Random } from './stats/random.ts';
export { type EvalResult, renderReportHtml, writeReport } from './write-report.ts';
