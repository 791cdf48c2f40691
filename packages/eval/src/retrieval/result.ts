import type { EmbeddingOutput } from '../embed/cache.ts';
import type { DistanceName } from '../embed/distance.ts';
import type { ModelRef } from '../embed/model.ts';

export type FaceMode = 'crop' | 'detect';

export interface RetrievalVariantMetrics {
  variant: string;
  model: string;
  output: EmbeddingOutput;
  distance: DistanceName;
  /** Images used as queries (embedded, with at least one candidate). */
  queries: number;
  /** Leave-one-out kNN label accuracy per k. */
  knn: { k: number; accuracy: number }[];
  precisionAt10: number;
  /** Mean average precision over the queries that have a same-label candidate. */
  map: number | null;
  mapQueries: number;
  /** Expected precision@10 of a random ranking (the share of same-label candidates). */
  chancePrecisionAt10: number;
  ties: {
    /** Queries whose k-th rank falls inside a tie group, per k. */
    queriesWithTieAtK: { k: number; queries: number }[];
    queriesWithTieAtPrecisionK: number;
    /** Tie groups holding same-label and other candidates, and the queries that have one. */
    mixedTieGroups: number;
    queriesWithMixedTies: number;
  };
}

export interface RetrievalReport {
  labels: {
    file: string;
    sha256: string;
    root: string;
    items: number;
    byLabel: Record<string, number>;
    groups: number | null;
  };
  images: {
    used: number;
    unreadable: { path: string; code: string; message: string }[];
    /** detect mode: images in which no face was found. */
    noFace: string[];
    /** Images left without candidates (every other image shares their group). */
    withoutCandidates: string[];
  };
  variants: {
    variant: string;
    cache: { hits: number; misses: number } | null;
    perLabel: { label: string; queries: number; knn: number[]; precisionAt10: number; map: number | null }[];
    /** Expected counts: rows are true labels, columns the kNN prediction, in `labels` order. */
    confusion: { k: number; labels: string[]; matrix: number[][] }[];
  }[];
}

export interface RetrievalEvalResult {
  kind: 'retrieval';
  formatVersion: 1;
  createdAt: string;
  params: {
    labels: string;
    root: string;
    faces: FaceMode;
    groupBy: string | null;
    models: string[];
    outputs: EmbeddingOutput[];
    distance: DistanceName;
    ks: number[];
    precisionK: number;
  };
  models: ModelRef[];
  metrics: { variants: RetrievalVariantMetrics[] };
  report: RetrievalReport;
  timings: Record<'readMs' | 'embedMs' | 'scoreMs' | 'totalMs', number>;
}
