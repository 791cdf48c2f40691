export type EvalPhase = 'parse' | 'resolve' | 'hash' | 'embed' | 'score' | 'report';

/** Where a run is: `done` of `total` units (rows, images, queries) of a phase; `model` while embedding. */
export interface EvalProgress {
  phase: EvalPhase;
  done: number;
  total: number;
  model?: string;
}

export type ProgressCallback = (progress: EvalProgress) => void;
