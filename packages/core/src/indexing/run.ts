/**
 * What an index run is made of, as every part of indexing speaks of it: its stages, its modes,
 * the facts each stage needs about it, and what the stages pass on to each other.
 *
 *   discover: walk the source, add each entry to the run's ledger as pending, emit batches
 *   embed:    read bytes, sha256, image row, skip what is already embedded, decode, detect and
 *             embed across the whole batch (Encoder.encode)
 *   write:    vectors first (deterministic point ids), then ONE metadata transaction: faces,
 *             embedded marker, image status, ledger outcome, run counters
 *
 * The in-process runner and the BullMQ workers call the very same stage functions
 * (discover.ts, embed.ts, write.ts, finalize.ts); only the plumbing between them differs.
 */
import type { Face as EncodedFace } from '@fever/encoder';
import type { ModelContext } from '../models.ts';
import type { SourceEntry, SourceInfo } from './sources.ts';

export const STAGES = ['discover', 'embed', 'write'] as const;
export type Stage = (typeof STAGES)[number];

export const INDEX_MODES = ['missing', 'all'] as const;
export type IndexMode = (typeof INDEX_MODES)[number];

/** Images per embed batch unless a run says otherwise. */
export const DEFAULT_BATCH = 16;
/** Embed batches in flight unless a run says otherwise (per worker process under BullMQ). */
export const DEFAULT_CONCURRENCY = 2;

/** What every stage needs to know about a run; fixed for the run's life. */
export interface RunInfo {
  id: string;
  collectionId: number;
  collectionName: string;
  source: SourceInfo;
  /**
   * Real paths that every file the run reads must lie under, links resolved (the API's
   * FEVER_INDEX_ROOTS); undefined: anywhere (a run the CLI started).
   */
  within: string[] | undefined;
  mode: IndexMode;
  /** Entries per embed batch. */
  batch: number;
  /** Embed batches in flight (per worker process under BullMQ). */
  concurrency: number;
  queue: 'inprocess' | 'bullmq';
  model: ModelContext;
  /** The collection stores identity descriptors with its faces. */
  identity: boolean;
}

/** The run parameters stored in index_runs.params. */
export interface RunParams {
  mode: IndexMode;
  batch: number;
  concurrency: number;
  queue: 'inprocess' | 'bullmq';
  sourceKind: SourceInfo['kind'];
  /** See RunInfo.within. */
  within?: string[];
  /** `pid@host` of the process running it in-process (see recovery.ts). */
  runner?: string;
}

/** One entry's result from the embed stage, as the write stage takes it. */
export type EmbedResult =
  | {
      uri: string;
      outcome: 'indexed';
      imageId: number;
      sha256: string;
      width: number;
      height: number;
      faces: EncodedFace[];
      /** The identity model (`id@version`) of the faces' `identity` descriptors, when they have them. */
      identityModel?: string;
      /** Faces the image had for this model before (a re-index that finds fewer deletes the rest). */
      previousFaceCount?: number;
    }
  | { uri: string; outcome: 'skipped'; imageId: number; faceCount: number; reason: string }
  | { uri: string; outcome: 'failed'; imageId?: number; errorCode: string; errorMessage: string };

export interface EmbedOutput {
  runId: string;
  results: EmbedResult[];
  timings: { decodeMs: number; embedMs: number };
}

export interface StageOptions {
  signal?: AbortSignal;
}

/** How a model version is keyed in metadata rows. */
export function modelKey(model: ModelContext): { modelId: string; modelVersion: string } {
  return { modelId: model.id, modelVersion: model.version };
}

/** The entries with the first of each uri (a batch may repeat one). */
export function uniqueEntries(entries: readonly SourceEntry[]): SourceEntry[] {
  const seen = new Set<string>();
  return entries.filter((e) => !seen.has(e.uri) && seen.add(e.uri));
}
