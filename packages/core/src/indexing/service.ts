/**
 * The indexing service: what `fever index`, `fever worker` and the query API call.
 *
 *   startIndexRun(runtime, request)  starts (or resumes) a run in the background, returns its id
 *   waitForRun(runtime, runId)       resolves when it has finished (or stopped, in this process)
 *   stopIndexing(runtime)            stops this process's indexing: discovery stops, in-flight
 *                                    work drains, attached queue workers close
 *   startIndexWorker(runtime, opts)  serves the BullMQ queues in this process until close()
 *
 * Progress lives in the metadata database: runtime.metadata.indexRuns.get(runId).
 */
import { ConfigError, type FeverError, InputError, TransientError } from '@fever/errors';
import type { IndexRun } from '@fever/metadata';
import { collectionNameSchema, FINISHED_RUN_STATUSES, runtimeMode } from '@fever/schema';
import { getOrCreateCollection } from '../collections.ts';
import type { Runtime } from '../runtime.ts';
import type { IndexQueues, IndexWorker, IndexWorkerOptions } from './bullmq.ts';
import { runInProcess } from './inprocess.ts';
import { loadRun } from './load-run.ts';
import { sleep, withRetry } from './retry.ts';
import { DEFAULT_BATCH, DEFAULT_CONCURRENCY, INDEX_MODES, type IndexMode, type RunParams } from './run.ts';
import { describeSource } from './sources.ts';

export interface IndexRequest {
  /** A directory, a .zip / .tar / .tar.gz archive, a text file of paths (one a line), or an image. */
  source: string;
  /** The image collection to index into; created if it does not exist. */
  collection: string;
  /** `missing` (default): embed only images without an embedding for the current model version. `all`: re-embed everything. */
  mode?: IndexMode;
  /** Images per embed batch (default 16): detection and embedding run batched across them. */
  batch?: number;
  /** Embed batches in flight (default 2; per worker process under BullMQ). */
  concurrency?: number;
  /**
   * Real paths of the folders the run may read (the API's FEVER_INDEX_ROOTS): a link that leads
   * elsewhere fails as LINK_OUTSIDE_SOURCE, at the walk and again when the file is read. Kept
   * with the run, and given to a run it resumes. Default: anywhere.
   */
  within?: string[];
  /**
   * Whether a collection this run creates stores identity descriptors (default true). Given for an
   * existing collection, it must match that collection's setting (409 otherwise).
   */
  identity?: boolean;
}

export interface StartedRun {
  runId: string;
  /** True when an unfinished run with the same collection, source, model and mode was picked up. */
  resumed: boolean;
  queue: 'inprocess' | 'bullmq';
}

interface LocalState {
  runs: Map<string, { stop: AbortController; done: Promise<IndexRun> }>;
  queues?: Promise<IndexQueues>;
  writer?: Promise<IndexWorker>;
}

const local = new WeakMap<Runtime, LocalState>();

function state(runtime: Runtime): LocalState {
  let s = local.get(runtime);
  if (!s) {
    s = { runs: new Map() };
    local.set(runtime, s);
  }
  return s;
}

function checkRequest(request: IndexRequest): Required<Omit<IndexRequest, 'within' | 'identity'>> {
  const mode = request.mode ?? 'missing';
  if (!INDEX_MODES.includes(mode))
    throw new InputError('INVALID_MODE', `mode must be missing or all, got '${mode}'`);
  const int = (name: string, value: number | undefined, fallback: number, max: number) => {
    const v = value ?? fallback;
    if (!Number.isInteger(v) || v < 1 || v > max) {
      throw new InputError(
        `INVALID_${name.toUpperCase()}`,
        `${name} must be a whole number from 1 to ${max}, got ${value}`,
      );
    }
    return v;
  };
  const name = collectionNameSchema.safeParse(request.collection);
  if (!name.success) {
    throw new InputError('INVALID_COLLECTION_NAME', `collection name ${name.error.issues[0]?.message}`);
  }
  if (typeof request.source !== 'string' || request.source.trim() === '') {
    throw new InputError(
      'INVALID_SOURCE',
      'source must name a directory, an archive, a list file or an image',
    );
  }
  return {
    source: request.source,
    collection: name.data,
    mode,
    batch: int('batch', request.batch, DEFAULT_BATCH, 256),
    concurrency: int('concurrency', request.concurrency, DEFAULT_CONCURRENCY, 64),
  };
}

/**
 * Starts an index run in the background and returns at once. With no REDIS_URL the run goes on
 * in this process; with REDIS_URL its jobs go to the BullMQ queues, for `fever worker`
 * processes (and, when this process holds the embedded vector store, the write stage runs here,
 * since only the holder can write it).
 *
 * An unfinished run of the same collection, source, model version and mode is resumed rather
 * than started again. Throws InputError / NotFoundError for a bad request or source.
 */
export async function startIndexRun(runtime: Runtime, request: IndexRequest): Promise<StartedRun> {
  const req = checkRequest(request);
  const mode = runtimeMode(runtime.config);
  if (mode.queue === 'bullmq' && mode.metadata === 'pglite') {
    throw new ConfigError(
      'QUEUE_NEEDS_POSTGRES',
      'REDIS_URL is set but DATABASE_URL is not: queue workers run in other processes and must share a Postgres database (the embedded one serves a single process)',
    );
  }
  const source = await describeSource(req.source);
  const model = await runtime.model();
  const { metadata } = runtime;
  const collection = await getOrCreateCollection(
    metadata,
    req.collection,
    request.identity === undefined ? {} : { identityDescriptors: request.identity },
  );
  const key = { modelId: model.id, modelVersion: model.version };
  const existing = await metadata.indexing.findUnfinished({
    collectionId: collection.id,
    source: source.path,
    model: key,
    mode: req.mode,
  });
  const params: RunParams = {
    mode: req.mode,
    batch: existing ? ((existing.params as Partial<RunParams>).batch ?? req.batch) : req.batch,
    concurrency: req.concurrency,
    queue: mode.queue,
    sourceKind: source.kind,
    ...(request.within ? { within: request.within } : {}),
  };
  // Two identical requests at once: the database lets one create the run, the other resumes it.
  const created = existing
    ? undefined
    : await metadata.indexRuns
        .create({
          collectionId: collection.id,
          ...key,
          source: source.path,
          params: params as unknown as Record<string, unknown>,
          status: 'running',
        })
        .catch(async (err: unknown) => {
          if ((err as FeverError).code !== 'INDEX_RUN_EXISTS') throw err;
          return undefined;
        });
  const run =
    existing ??
    created ??
    (await metadata.indexing.findUnfinished({
      collectionId: collection.id,
      source: source.path,
      model: key,
      mode: req.mode,
    }));
  if (!run)
    throw new TransientError(
      'INDEX_RUN_RACE',
      'an identical run was started and finished meanwhile; try again',
    );
  // A run resumed here reads only what this request may read.
  if (!created && request.within) await metadata.indexRuns.start(run.id, { within: request.within });
  const s = state(runtime);
  const resumed = created === undefined;
  runtime.logger.info(
    {
      runId: run.id,
      collection: collection.name,
      source: source.path,
      kind: source.kind,
      ...params,
      resumed,
    },
    resumed ? 'resuming index run' : 'index run started',
  );

  if (mode.queue === 'inprocess') {
    const info = { ...(await withRetry(() => loadRun(runtime, run.id))), concurrency: req.concurrency };
    // No await between this check and the set: two requests at once start one runner.
    if (!s.runs.has(run.id)) {
      const stop = new AbortController();
      const done = runInProcess(runtime, info, { signal: stop.signal }).finally(() => s.runs.delete(run.id));
      // Failures are recorded on the run; nothing waits on this promise necessarily.
      done.catch((err: unknown) => runtime.logger.error({ runId: run.id, err }, 'index run crashed'));
      s.runs.set(run.id, { stop, done });
    }
    return { runId: run.id, resumed, queue: 'inprocess' };
  }

  await metadata.indexRuns.start(run.id);
  // bullmq loads only here: processes without Redis never pay for it.
  s.queues ??= import('./bullmq.ts').then((m) => m.IndexQueues.open(runtime));
  const queues = await s.queues;
  await queues.startRun(run.id);
  // Only the holder of the embedded vector store can write vectors: if that is us, serve the
  // write stage here (with Qdrant the workers do).
  if (runtime.vectors?.kind === 'embedded') {
    s.writer ??= import('./bullmq.ts').then((m) => m.startIndexWorker(runtime, { stages: ['write'] }));
    await s.writer;
  }
  return { runId: run.id, resumed, queue: 'bullmq' };
}

export interface WaitOptions {
  /** Called with the run row every interval (default 500 ms). */
  onProgress?: (run: IndexRun) => void;
  intervalMs?: number;
  signal?: AbortSignal;
}

/**
 * Resolves with the run once it has finished, or, for a run going on in this process, once its
 * runner has stopped (stopIndexing drains it and leaves it resumable).
 */
export async function waitForRun(
  runtime: Runtime,
  runId: string,
  options: WaitOptions = {},
): Promise<IndexRun> {
  const interval = options.intervalMs ?? 500;
  const mine = state(runtime).runs.get(runId);
  let stopped = false;
  void mine?.done.then(
    () => {
      stopped = true;
    },
    () => {
      stopped = true;
    },
  );
  for (;;) {
    // A dropped database connection while waiting is retried, not a reason to give up.
    const run = await withRetry(() => runtime.metadata.indexRuns.require(runId), { attempts: 10 });
    options.onProgress?.(run);
    if (
      (FINISHED_RUN_STATUSES as readonly string[]).includes(run.status) ||
      stopped ||
      options.signal?.aborted
    ) {
      return run;
    }
    const tick = sleep(interval, options.signal);
    await (mine ? Promise.race([tick, mine.done.catch(() => undefined)]) : tick);
  }
}

/**
 * Stops this process's indexing gracefully: discovery stops, everything already discovered is
 * embedded and written, queue workers attached by startIndexRun close. Unfinished runs stay
 * `running` and resume when started again.
 */
export async function stopIndexing(runtime: Runtime): Promise<void> {
  const s = state(runtime);
  for (const { stop } of s.runs.values()) stop.abort();
  await Promise.allSettled([...s.runs.values()].map((r) => r.done));
  const writer = s.writer;
  const queues = s.queues;
  s.writer = undefined;
  s.queues = undefined;
  await (await writer?.catch(() => undefined))?.close();
  await (await queues?.catch(() => undefined))?.close();
}

/** Runs going on in this process (in-process runner), by id. */
export function activeRuns(runtime: Runtime): string[] {
  return [...state(runtime).runs.keys()];
}

/**
 * Serves the BullMQ index queues in this process until close() (see bullmq.ts). bullmq and
 * ioredis are loaded here, on first use, so that processes without a queue never load them.
 */
export async function startIndexWorker(
  runtime: Runtime,
  options: IndexWorkerOptions = {},
): Promise<IndexWorker> {
  const { startIndexWorker: start } = await import('./bullmq.ts');
  return start(runtime, options);
}
