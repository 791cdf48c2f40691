/**
 * The scaled runner: one BullMQ queue per stage on REDIS_URL, any number of worker processes.
 *
 * - Queues live under the prefix `fever-<deployment id>` (a random id stored in the metadata
 *   database), so deployments or test databases sharing one Redis never take each other's jobs.
 * - discover jobs walk a source and add embed jobs, waiting while the embed queue is full
 *   (back-pressure: Redis holds a bounded window of work, not the whole source); embed jobs add
 *   write jobs; write jobs need the vector store, so with the embedded store only the process
 *   holding it serves them (with Qdrant every worker does).
 * - Postgres is the source of truth, Redis only carries work: a watchdog in every worker re-drives
 *   an unfinished run whose jobs Redis has lost (a restart without persistence) or that has no
 *   job left anywhere. Re-driving re-walks the source; the ledger makes that harmless.
 * - A broken image is a failed entry inside a successful job. A job that can never succeed
 *   (unknown run, another model version) fails with UnrecoverableError and fails its run; any
 *   other error is retried with exponential backoff and fails the run only when retries run out.
 */
import { hostname } from 'node:os';
import type { Face as EncodedFace } from '@fever/encoder';
import { InputError } from '@fever/errors';
import { FINISHED_RUN_STATUSES, type RunStatus } from '@fever/schema';
import { DelayedError, type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Runtime } from '../runtime.ts';
import { discover } from './discover.ts';
import { embedBatch } from './embed.ts';
import { finalizeRun, isRunDone } from './finalize.ts';
import { loadRun } from './load-run.ts';
import { QUEUE_STATES, type QueueDepth } from './metrics.ts';
import { describeError, isPermanent, isTransient, sleep } from './retry.ts';
import { type EmbedOutput, type EmbedResult, type RunParams, STAGES, type Stage } from './run.ts';
import type { SourceEntry } from './sources.ts';
import { writeBatch } from './write.ts';

/** Jobs waiting in the embed or write queue before producers wait (per queue, all runs). */
const HIGH_WATER = 32;
const JOB_ATTEMPTS = 8;
const WATCHDOG_MS = 5_000;
/** How long close() waits for the queue clients once the jobs in hand are done. */
const CLOSE_GRACE_MS = 5_000;

// ---------------------------------------------------------------------------------------------
// wire format (BullMQ job data is JSON)

interface WireEntry {
  uri: string;
  path?: string;
  /** Archive member bytes, base64. */
  b64?: string;
  error?: { code: string; message: string };
}

interface WireFace {
  box: EncodedFace['box'];
  score: number;
  /** Float32 little-endian, base64. */
  embedding: string;
  probs: number[] | null;
  label: string | null;
  /** Identity descriptor, Float32 little-endian, base64. */
  identity?: string;
}

type WireResult =
  | Exclude<EmbedResult, { outcome: 'indexed' }>
  | (Omit<Extract<EmbedResult, { outcome: 'indexed' }>, 'faces'> & { faces: WireFace[] });

interface DiscoverData {
  runId: string;
}
interface EmbedData {
  runId: string;
  entries: WireEntry[];
}
interface WriteData {
  runId: string;
  results?: WireResult[];
  timings?: EmbedOutput['timings'];
}

function toWireEntry(e: SourceEntry): WireEntry {
  const out: WireEntry = { uri: e.uri };
  if (e.path !== undefined) out.path = e.path;
  if (e.bytes !== undefined)
    out.b64 = Buffer.from(e.bytes.buffer, e.bytes.byteOffset, e.bytes.byteLength).toString('base64');
  if (e.error !== undefined) out.error = e.error;
  return out;
}

function fromWireEntry(e: WireEntry): SourceEntry {
  const out: SourceEntry = { uri: e.uri };
  if (e.path !== undefined) out.path = e.path;
  if (e.b64 !== undefined) out.bytes = new Uint8Array(Buffer.from(e.b64, 'base64'));
  if (e.error !== undefined) out.error = e.error;
  return out;
}

function toWireResult(r: EmbedResult): WireResult {
  if (r.outcome !== 'indexed') return r;
  return {
    ...r,
    faces: r.faces.map((f) => ({
      box: f.box,
      score: f.score,
      embedding: toBase64(f.embedding),
      probs: f.probs ? Array.from(f.probs) : null,
      label: f.label,
      ...(f.identity ? { identity: toBase64(f.identity) } : {}),
    })),
  };
}

function toBase64(v: Float32Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
}

function fromBase64(b64: string): Float32Array {
  const bytes = Buffer.from(b64, 'base64');
  // Copied into its own (aligned) buffer: a Float32Array view needs 4-byte alignment.
  const out = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

function fromWireResult(r: WireResult): EmbedResult {
  if (r.outcome !== 'indexed') return r;
  return {
    ...r,
    faces: r.faces.map((f) => {
      return {
        box: f.box,
        score: f.score,
        embedding: fromBase64(f.embedding),
        probs: f.probs ? Float32Array.from(f.probs) : null,
        label: f.label,
        ...(f.identity ? { identity: fromBase64(f.identity) } : {}),
      };
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// queues

export interface BullOptions {
  /** Job lock: a job whose worker died is retried after this long (default 30 s). */
  lockDurationMs?: number;
  /** How often workers look for jobs whose worker died (default 10 s). */
  stalledIntervalMs?: number;
}

/** The three stage queues of one deployment, plus a plain Redis client for run liveness keys. */
export class IndexQueues {
  private constructor(
    readonly prefix: string,
    readonly connection: { url: string },
    readonly discover: Queue<DiscoverData>,
    readonly embed: Queue<EmbedData>,
    readonly write: Queue<WriteData>,
    readonly redis: Redis,
  ) {}

  static async open(runtime: Runtime): Promise<IndexQueues> {
    const url = runtime.config.redisUrl;
    if (!url) throw new InputError('QUEUE_NOT_CONFIGURED', 'REDIS_URL is not set: BullMQ queues need Redis');
    const prefix = `fever-${(await runtime.metadata.indexing.deploymentId()).slice(0, 8)}`;
    const connection = { url };
    const defaultJobOptions = {
      attempts: JOB_ATTEMPTS,
      backoff: { type: 'exponential' as const, delay: 1000 },
      removeOnComplete: true,
      removeOnFail: 1000,
    };
    const make = <T>(name: Stage) => {
      const queue = new Queue<T>(name, { connection, prefix, defaultJobOptions });
      // Connection errors are retried by the client; without a listener they would crash the process.
      queue.on('error', (err) =>
        runtime.logger.debug({ queue: name, err: err.message }, 'queue connection error'),
      );
      return queue;
    };
    const redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: false });
    redis.on('error', () => {}); // reconnects by itself; callers see command errors
    return new IndexQueues(prefix, connection, make('discover'), make('embed'), make('write'), redis);
  }

  runKey(runId: string): string {
    return `${this.prefix}:run:${runId}`;
  }

  /** Starts (or re-drives) a run: marks it live in Redis and queues its discover job (one at a time). */
  async startRun(runId: string): Promise<void> {
    await this.redis.set(this.runKey(runId), '1');
    await this.discover.add('discover', { runId }, { jobId: `d-${runId}`, removeOnFail: true });
  }

  async addEmbed(runId: string, entries: SourceEntry[], signal?: AbortSignal): Promise<void> {
    await this.waitForRoom(this.embed, signal);
    await this.embed.add('embed', { runId, entries: entries.map(toWireEntry) });
  }

  async addWrite(output: EmbedOutput, signal?: AbortSignal): Promise<void> {
    await this.waitForRoom(this.write, signal);
    await this.write.add('write', {
      runId: output.runId,
      results: output.results.map(toWireResult),
      timings: output.timings,
    });
  }

  async addFinalize(runId: string): Promise<void> {
    await this.write.add('finalize', { runId });
  }

  /** Jobs queued, running or waiting to retry, over all stages. */
  async backlog(): Promise<number> {
    let n = 0;
    for (const q of [this.discover, this.embed, this.write]) {
      const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children');
      n += Object.values(counts).reduce((a, b) => a + b, 0);
    }
    return n;
  }

  /** Jobs per stage waiting, running, waiting to retry and failed for good (kept: the last 1000). */
  async depth(): Promise<QueueDepth> {
    const read = async (q: Queue) => {
      const counts = await q.getJobCounts(...QUEUE_STATES);
      return {
        waiting: counts.waiting ?? 0,
        active: counts.active ?? 0,
        delayed: counts.delayed ?? 0,
        failed: counts.failed ?? 0,
      };
    };
    const [discover, embed, write] = await Promise.all([
      read(this.discover),
      read(this.embed),
      read(this.write),
    ]);
    return { discover, embed, write };
  }

  private async waitForRoom(queue: Queue, signal?: AbortSignal): Promise<void> {
    while (!signal?.aborted && (await queue.count()) >= HIGH_WATER) await sleep(100, signal);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.discover.close(), this.embed.close(), this.write.close()]);
    this.redis.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------
// workers

export interface IndexWorkerOptions extends BullOptions {
  /** Embed jobs run at once by this process (default 2). */
  concurrency?: number;
  /** Stages this process serves (default all; `write` only where the vector store can be opened). */
  stages?: readonly Stage[];
  /** Look for lost work every this many ms (default 5 s; 0 = no watchdog). */
  watchdogMs?: number;
}

export interface IndexWorker {
  readonly queues: IndexQueues;
  /** Stages served now (`write` joins when the vector store becomes free). */
  stages(): Stage[];
  /** Stops taking jobs, lets running ones finish (a discovery walk hands over to another worker), closes. */
  close(): Promise<void>;
}

/** Serves the index queues in this process until close(). */
export async function startIndexWorker(
  runtime: Runtime,
  options: IndexWorkerOptions = {},
): Promise<IndexWorker> {
  const queues = await IndexQueues.open(runtime);
  const { logger } = runtime;
  const wanted = new Set(options.stages ?? STAGES);
  const stopping = new AbortController();
  const workers = new Map<Stage, Worker>();
  const common = {
    connection: queues.connection,
    prefix: queues.prefix,
    lockDuration: options.lockDurationMs ?? 30_000,
    stalledInterval: options.stalledIntervalMs ?? 10_000,
    // A worker killed again and again must not turn its job into a failure.
    maxStalledCount: 10,
    name: `fever-${hostname()}-${process.pid}`,
  };

  const failRun = async (runId: string, err: unknown) => {
    const { code, message } = describeError(err);
    logger.error({ runId, code }, `index run failed: ${message}`);
    await runtime.metadata.indexRuns
      .finish(runId, { status: 'failed', errorCode: code, errorMessage: message })
      .catch(() => {});
    await queues.redis.del(queues.runKey(runId)).catch(() => {});
  };

  let inHand = 0;
  /** Maps errors to BullMQ's retry rules; records why a run stopped; counts the job's outcome. */
  const guard =
    <T extends { runId: string }>(stage: Stage, fn: (job: Job<T>, token?: string) => Promise<void>) =>
    async (job: Job<T>, token?: string) => {
      inHand++;
      try {
        await fn(job, token);
        runtime.metrics.job(stage, 'completed');
      } catch (err) {
        if (err instanceof DelayedError) {
          runtime.metrics.job(stage, 'handed_back');
          throw err;
        }
        // BullMQ counts attemptsMade after a failure: this attempt is the last one when it fails too.
        const last = isPermanent(err) || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
        runtime.metrics.job(stage, last ? 'failed' : 'retried', describeError(err).code);
        if (isTransient(err)) {
          const { code, message } = describeError(err);
          await runtime.metadata.indexing
            .noteError(job.data.runId, { code, message: `${stage}: ${message} (retrying)` })
            .catch(() => {});
          throw err;
        }
        if (isPermanent(err)) {
          await failRun(job.data.runId, err);
          const { code, message } = describeError(err);
          throw new UnrecoverableError(`${code}: ${message}`);
        }
        throw err;
      } finally {
        inHand--;
      }
    };

  /** The run, unless it has finished (then its jobs are dropped). */
  const liveRun = async (runId: string) => {
    const row = await runtime.metadata.indexRuns.get(runId);
    if (!row || isFinished(row.status)) return undefined;
    return loadRun(runtime, runId);
  };

  const processors = {
    discover: guard<DiscoverData>('discover', async (job, token) => {
      const run = await liveRun(job.data.runId);
      if (!run) return;
      await runtime.metadata.indexRuns.start(run.id);
      const { completed } = await discover(
        runtime,
        run,
        (entries) => queues.addEmbed(run.id, entries, stopping.signal),
        {
          signal: stopping.signal,
        },
      );
      if (!completed) {
        // Shutting down in the middle of a walk: hand it to another worker (or our restart).
        await job.moveToDelayed(Date.now() + 500, token);
        throw new DelayedError();
      }
      await queues.addFinalize(run.id);
    }),
    embed: guard<EmbedData>('embed', async (job) => {
      const run = await liveRun(job.data.runId);
      if (!run) return;
      const output = await embedBatch(runtime, run, job.data.entries.map(fromWireEntry));
      if (output.results.length > 0) await queues.addWrite(output);
    }),
    write: guard<WriteData>('write', async (job) => {
      const run = await liveRun(job.data.runId);
      if (!run) return;
      if (job.name === 'write' && job.data.results) {
        const row = await writeBatch(runtime, run, {
          runId: run.id,
          results: job.data.results.map(fromWireResult),
          timings: job.data.timings ?? { decodeMs: 0, embedMs: 0 },
        });
        if (!isRunDone(row)) return;
      }
      const after = await finalizeRun(runtime, run.id);
      if (after?.status === 'succeeded') await queues.redis.del(queues.runKey(run.id)).catch(() => {});
    }),
  };

  const start = (stage: Stage) => {
    if (workers.has(stage) || stopping.signal.aborted) return;
    const worker = new Worker(stage, processors[stage] as (job: Job) => Promise<void>, {
      ...common,
      concurrency: stage === 'embed' ? (options.concurrency ?? 2) : stage === 'discover' ? 2 : 1,
    });
    worker.on('failed', (job, err) => {
      if (!job) return;
      const attempts = job.opts.attempts ?? 1;
      const final =
        err instanceof UnrecoverableError ||
        err.name === 'UnrecoverableError' ||
        job.attemptsMade >= attempts;
      logger.warn(
        { stage, jobId: job.id, runId: job.data.runId, attempt: job.attemptsMade, final, err: err.message },
        `${stage} job failed`,
      );
      if (final && !(err.name === 'UnrecoverableError')) void failRun(job.data.runId, err);
    });
    worker.on('error', (err) => logger.warn({ stage, err: err.message }, 'queue connection error'));
    workers.set(stage, worker);
    logger.info({ stage, prefix: queues.prefix }, `serving the ${stage} queue`);
  };

  for (const stage of ['discover', 'embed'] as const) if (wanted.has(stage)) start(stage);
  let vectorTimer: NodeJS.Timeout | undefined;
  if (wanted.has('write')) {
    if (runtime.vectors) start('write');
    else {
      logger.warn(
        'the vector store is held by another process: serving discover and embed only, and trying again every 5 s',
      );
      vectorTimer = setInterval(() => {
        void runtime.acquireVectors().then(
          (ok) => {
            if (!ok) return;
            clearInterval(vectorTimer);
            logger.info('the vector store is free now: serving the write queue too');
            start('write');
          },
          (err: unknown) => logger.warn({ err: (err as Error).message }, 'cannot open the vector store'),
        );
      }, 5_000);
    }
  }

  // Watchdog: Postgres says which runs are unfinished; re-drive those Redis has no work for.
  let idleTicks = 0;
  const watchdogMs = options.watchdogMs ?? WATCHDOG_MS;
  let watching = false;
  const watchdog = async () => {
    if (watching || stopping.signal.aborted) return;
    watching = true;
    try {
      const runs = (await runtime.metadata.indexRuns.list({ status: 'running', limit: 100 })).filter(
        (r) => (r.params as Partial<RunParams>).queue === 'bullmq',
      );
      if (runs.length === 0) {
        idleTicks = 0;
        return;
      }
      const idle = (await queues.backlog()) === 0;
      idleTicks = idle ? idleTicks + 1 : 0;
      for (const run of runs) {
        // SET NX succeeds only where the key is gone: Redis restarted without the run's jobs.
        const lost = (await queues.redis.set(queues.runKey(run.id), '1', 'NX')) === 'OK';
        if (lost || idleTicks >= 2) {
          logger.warn(
            { runId: run.id, reason: lost ? 'redis-lost-jobs' : 'no-jobs-left' },
            lost
              ? 'Redis has lost this run’s jobs: re-driving it from the ledger'
              : 'an unfinished run has no jobs left: re-driving it',
          );
          await queues.startRun(run.id);
          idleTicks = 0;
        }
      }
    } catch (err) {
      logger.debug({ err: (err as Error).message }, 'watchdog tick failed');
    } finally {
      watching = false;
    }
  };
  const watchdogTimer = watchdogMs > 0 ? setInterval(() => void watchdog(), watchdogMs) : undefined;
  const unwatchQueues = runtime.metrics.watchQueues(() => queues.depth());

  let closing: Promise<void> | undefined;
  return {
    queues,
    stages: () => [...workers.keys()],
    close() {
      closing ??= (async () => {
        stopping.abort();
        clearInterval(vectorTimer);
        clearInterval(watchdogTimer);
        unwatchQueues?.();
        // BullMQ's close can wait for ever on a client still reconnecting after a Redis restart
        // (taskforcesh/bullmq#4656). What must finish is the jobs in hand: once they have, the
        // clients get a few seconds, then the process goes on without them.
        const closed = new AbortController();
        const closingWorkers = Promise.allSettled([...workers.values()].map((w) => w.close())).then(() =>
          closed.abort(),
        );
        const jobsDone = (async () => {
          while (inHand > 0 && !closed.signal.aborted) await sleep(50, closed.signal);
          await sleep(CLOSE_GRACE_MS, closed.signal);
        })();
        await Promise.race([closingWorkers, jobsDone]);
        if (!closed.signal.aborted) {
          logger.warn('the queue clients did not close once the jobs in hand were done: leaving them');
        }
        const quit = new AbortController();
        await Promise.race([queues.close().finally(() => quit.abort()), sleep(CLOSE_GRACE_MS, quit.signal)]);
      })();
      return closing;
    },
  };
}

function isFinished(status: RunStatus): boolean {
  return (FINISHED_RUN_STATUSES as readonly RunStatus[]).includes(status);
}
