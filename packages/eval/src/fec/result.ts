import type { EmbeddingOutput } from '../embed/cache.ts';
import type { DistanceName } from '../embed/distance.ts';
import type { FaceFailure } from '../embed/faces.ts';
import type { ModelRef } from '../embed/model.ts';
import type { MarginHistogram, SubsetStats } from './metrics.ts';
import type { MissingReason } from './resolve-images.ts';
import type { Answer, MalformedCode, MalformedRow, TripletType } from './types.ts';

/** How many malformed rows and image failures a report lists one by one (all are counted). */
export const MAX_LISTED = 1000;

/** Why a triplet was not scored. The first face that fails gives the reason. */
export type SkipReason = 'no-majority' | MissingReason | FaceFailure['reason'];

export interface FecVariantMetrics extends SubsetStats {
  /** `model id@version output`, unique within the run. */
  variant: string;
  model: string;
  output: EmbeddingOutput;
  distance: DistanceName;
  /** Triplets whose closest pair was an exact tie (scored 1/k or 0, never 1). */
  tiedTriplets: number;
}

export interface GalleryItem {
  line: number;
  type: TripletType;
  urls: [string, string, string];
  /** Keys into report.thumbnails (null: no thumbnail could be made). */
  thumbnails: [string | null, string | null, string | null];
  humanOdd: Answer;
  /** Votes for face 1, 2 and 3. */
  votes: [number, number, number];
  modelOdd: Answer | null;
  margin: number;
  distances: [number, number, number];
}

export interface FecReport {
  source: {
    file: string;
    sha256: string;
    rows: number;
    blankLines: number;
    triplets: number;
    malformed: number;
    malformedByCode: Partial<Record<MalformedCode, number>>;
    /** The first MAX_LISTED malformed rows; malformedNotListed says how many more there are. */
    malformedRows: MalformedRow[];
    malformedNotListed: number;
  };
  triplets: {
    parsed: number;
    used: number;
    skipped: Partial<Record<SkipReason, number>>;
    byType: Record<TripletType, { parsed: number; used: number }>;
    /** Used triplets on which every annotator agrees. */
    strict: number;
    annotators: { min: number; max: number };
  };
  images: {
    /** Distinct URLs looked up (those of triplets with a majority). */
    urls: number;
    resolved: number;
    /** Distinct URLs (resolution), images (unreadable) or faces (empty-box) per reason. */
    failed: Partial<Record<MissingReason | FaceFailure['reason'], number>>;
    failures: { url: string; reason: MissingReason | FaceFailure['reason']; detail: string }[];
    failuresNotListed: number;
  };
  faces: { unique: number; embedded: number };
  variants: {
    variant: string;
    cache: { hits: number; misses: number };
    margins: MarginHistogram;
    gallery: GalleryItem[];
  }[];
  thumbnails: Record<string, string>;
}

export interface FecEvalParams {
  triplets: string;
  images: string | null;
  map: string | null;
  models: string[];
  outputs: EmbeddingOutput[];
  distance: DistanceName;
  bootstrapSamples: number;
  seed: number;
  gallerySize: number;
  /** The majority rule: an answer given by more than half of the annotators. */
  majority: 'more-than-half';
}

/** What a run returns: JSON-serialisable, so that it can be stored as it is (eval_runs) and rendered later. */
export interface FecEvalResult {
  kind: 'fec';
  formatVersion: 1;
  createdAt: string;
  params: FecEvalParams;
  models: ModelRef[];
  metrics: { variants: FecVariantMetrics[]; human: SubsetStats };
  report: FecReport;
  timings: Record<
    'parseMs' | 'resolveMs' | 'hashMs' | 'embedMs' | 'scoreMs' | 'reportMs' | 'totalMs',
    number
  >;
}
