/**
 * The use cases of a serving process, each a service over one runtime: what the API's routes call
 * (one method each) and what `fever search` uses. createServices wires them together.
 */
import { CollectionService } from './collections.ts';
import { EvalRunService } from './eval-runs.ts';
import { ImageService } from './images.ts';
import { PeopleService } from './people.ts';
import { RunService, type StartIndexRun } from './runs.ts';
import type { ServingRuntime } from './runtime.ts';
import { SearchService, type SearchServiceOptions } from './search.ts';
import { StatusService } from './status.ts';

export interface Services {
  search: SearchService;
  collections: CollectionService;
  images: ImageService;
  runs: RunService;
  evals: EvalRunService;
  status: StatusService;
  people: PeopleService;
}

export interface ServicesOptions {
  /** The folders runs and evaluations may read (FEVER_INDEX_ROOTS). */
  roots: readonly string[];
  /** What starts index runs (default @fever/core's startIndexRun; tests give their own). */
  startIndexRun?: StartIndexRun;
  search?: SearchServiceOptions;
}

export function createServices(runtime: ServingRuntime, options: ServicesOptions): Services {
  const search = new SearchService(runtime, options.search);
  return {
    search,
    // Cached face and image rows of a deleted collection must not outlive it.
    collections: new CollectionService(runtime, { onDeleted: () => search.invalidate() }),
    images: new ImageService(runtime),
    runs: new RunService(runtime, {
      roots: options.roots,
      ...(options.startIndexRun ? { start: options.startIndexRun } : {}),
    }),
    evals: new EvalRunService(runtime, { roots: options.roots }),
    status: new StatusService(runtime),
    people: new PeopleService(runtime),
  };
}
