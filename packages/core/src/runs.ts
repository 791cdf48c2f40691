/**
 * Index runs as a server offers them: started on a folder or archive under FEVER_INDEX_ROOTS,
 * listed, looked at, followed until they finish, and this process's share of them stopped.
 */
import { FeverError, NotFoundError } from '@fever/errors';
import { realRoots } from '@fever/files';
import type { IndexRun } from '@fever/metadata';
import { FINISHED_RUN_STATUSES, type RunStatus } from '@fever/schema';
import { allowedSource } from './access.ts';
import { getOrCreateCollection } from './collections.ts';
import { sleep } from './indexing/retry.ts';
import { type IndexRequest, startIndexRun, stopIndexing } from './indexing/service.ts';
import { describeSource } from './indexing/sources.ts';
import type { Runtime, ServingRuntime } from './runtime.ts';

/** A run with the name of its collection (null once the collection is gone). */
export interface RunView extends IndexRun {
  collection: string | null;
}

export interface StartRunRequest {
  source: string;
  collection: string;
  /** Create the collection when it does not exist (else NotFoundError COLLECTION_NOT_FOUND). */
  createCollection?: boolean;
  mode?: IndexRequest['mode'];
  batch?: number;
  concurrency?: number;
}

/** What starts the run: @fever/core's startIndexRun, unless a test gives another. */
export type StartIndexRun = (runtime: Runtime, request: IndexRequest) => Promise<{ runId: string }>;

export interface RunServiceOptions {
  /** The folders runs may read (FEVER_INDEX_ROOTS); none → no run can be started. */
  roots: readonly string[];
  start?: StartIndexRun;
}

const isFinished = (status: RunStatus) => (FINISHED_RUN_STATUSES as readonly RunStatus[]).includes(status);

export class RunService {
  private readonly names = new Map<number, string>();

  constructor(
    private readonly runtime: ServingRuntime,
    private readonly options: RunServiceOptions,
  ) {}

  /**
   * Starts (or resumes) a run on `source`, which must lie under the roots; the run follows links
   * only under them too. A list file is refused: it may name files anywhere.
   */
  async start(request: StartRunRequest): Promise<RunView> {
    const { metadata } = this.runtime;
    const source = await allowedSource(request.source, this.options.roots);
    if (!(await metadata.collections.get(request.collection))) {
      if (!request.createCollection) {
        throw new NotFoundError('COLLECTION_NOT_FOUND', `collection '${request.collection}' does not exist`);
      }
      await getOrCreateCollection(metadata, request.collection);
    }
    if ((await describeSource(source)).kind === 'list') {
      throw new FeverError(
        'SOURCE_NOT_ALLOWED',
        'the API indexes folders, archives and images; a list of paths may name files outside FEVER_INDEX_ROOTS (use `fever index` for lists)',
        { status: 403 },
      );
    }
    const start = this.options.start ?? startIndexRun;
    const { runId } = await start(this.runtime, {
      source,
      collection: request.collection,
      mode: request.mode,
      within: await realRoots(this.options.roots),
      ...(request.batch === undefined ? {} : { batch: request.batch }),
      ...(request.concurrency === undefined ? {} : { concurrency: request.concurrency }),
    });
    this.runtime.logger.info({ runId, source, collection: request.collection }, 'index run started');
    return this.get(runId);
  }

  /** Runs, newest first (NotFoundError COLLECTION_NOT_FOUND for an unknown collection). */
  async list(filter: { collection?: string; status?: RunStatus; limit: number }): Promise<RunView[]> {
    const { metadata } = this.runtime;
    const collection = filter.collection ? await metadata.collections.require(filter.collection) : undefined;
    const runs = await metadata.indexRuns.list({
      ...(collection ? { collectionId: collection.id } : {}),
      ...(filter.status ? { status: filter.status } : {}),
      limit: filter.limit,
    });
    return Promise.all(runs.map((run) => this.view(run)));
  }

  /** One run (NotFoundError INDEX_RUN_NOT_FOUND). */
  async get(id: string): Promise<RunView> {
    return this.view(await this.runtime.metadata.indexRuns.require(id));
  }

  /** The run now, then again whenever it changes (checked every `intervalMs`), until it has finished. */
  async *follow(
    id: string,
    options: { intervalMs?: number; signal?: AbortSignal } = {},
  ): AsyncGenerator<RunView> {
    const interval = options.intervalMs ?? 1000;
    let last = '';
    while (!options.signal?.aborted) {
      const run = await this.get(id);
      const seen = JSON.stringify(run);
      if (seen !== last) {
        last = seen;
        yield run;
      }
      if (isFinished(run.status)) return;
      await sleep(interval, options.signal);
    }
  }

  /** Stops the runs going on in this process at a clean point; the same request resumes them. */
  stop(): Promise<void> {
    return stopIndexing(this.runtime);
  }

  private async view(run: IndexRun): Promise<RunView> {
    let name = this.names.get(run.collectionId);
    if (name === undefined) {
      name = (await this.runtime.metadata.collections.getById(run.collectionId))?.name;
      if (name !== undefined) this.names.set(run.collectionId, name);
    }
    return { ...run, collection: name ?? null };
  }
}
