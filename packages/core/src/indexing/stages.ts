/**
 * The three stages of an index run, as plain functions of (context, run, input). The in-process
 * runner and the BullMQ workers call the very same functions; only the plumbing between them
 * differs.
 *
 *   discover: walk the source, add each entry to the run's ledger as pending, emit batches
 *   embed:    read bytes, sha256, image row, skip what is already embedded, decode, detect and
 *             embed across the whole batch (Encoder.encode)
 *   write:    vectors first (deterministic point ids), then ONE metadata transaction: faces,
 *             embedded marker, image status, ledger outcome, run counters
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { decodeImage, type Face as EncodedFace, type RgbImage } from '@fever/encoder';
import { FeverError, InputError, NotFoundError, TransientError } from '@fever/errors';
import { openWithin } from '@fever/files';
import type { EntryResult, IndexRun, NewFace } from '@fever/metadata';
import { facePointId } from '@fever/schema';
import type { Point } from '@fever/vectors';
import type { ModelContext } from '../runtime.ts';
import { ensureVectorCollection, type IndexContext } from './context.ts';
import { timed } from './metrics.ts';
import { describeError, isTransient, type RetryOptions, withRetry } from './retry.ts';
import {
  describeSource,
  isArchive,
  linkOutside,
  MAX_ENTRY_BYTES,
  type SourceEntry,
  type SourceInfo,
  walkSource,
} from './sources.ts';

export const INDEX_MODES = ['missing', 'all'] as const;
export type IndexMode = (typeof INDEX_MODES)[number];

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

/** Decoded pixels per Encoder.encode call at most (≈ 120 MB of RGB), whatever the batch size. */
const PIXEL_BUDGET = 40_000_000;
/** Files read and decoded at once within a batch (sharp decodes on the libuv pool). */
const READ_CONCURRENCY = 4;

const runCache = new WeakMap<IndexContext, Map<string, Promise<RunInfo>>>();

/** The run's fixed facts. Throws NotFoundError for an unknown run, FeverError MODEL_MISMATCH when
 * this process runs another model version than the run indexes. */
export function loadRun(ctx: IndexContext, runId: string): Promise<RunInfo> {
  let byId = runCache.get(ctx);
  if (!byId) {
    byId = new Map();
    runCache.set(ctx, byId);
  }
  const cache = byId;
  let info = cache.get(runId);
  if (!info) {
    info = readRun(ctx, runId);
    info.catch(() => cache.delete(runId));
    cache.set(runId, info);
  }
  return info;
}

async function readRun(ctx: IndexContext, runId: string): Promise<RunInfo> {
  const run = await ctx.metadata.indexRuns.get(runId);
  if (!run) throw new NotFoundError('INDEX_RUN_NOT_FOUND', `index run ${runId} does not exist`);
  const model = await ctx.model();
  if (run.modelId !== model.id || run.modelVersion !== model.version) {
    throw new InputError(
      'MODEL_MISMATCH',
      `index run ${runId} embeds with ${run.modelId}@${run.modelVersion}, but this process runs ${model.id}@${model.version}`,
    );
  }
  const collection = await ctx.metadata.collections.getById(run.collectionId);
  if (!collection)
    throw new NotFoundError('COLLECTION_NOT_FOUND', `collection ${run.collectionId} no longer exists`);
  const params = run.params as Partial<RunParams>;
  if (!run.source) throw new InputError('INDEX_RUN_INVALID', `index run ${runId} has no source`);
  return {
    id: run.id,
    collectionId: run.collectionId,
    collectionName: collection.name,
    source: { kind: params.sourceKind ?? (await describeSource(run.source)).kind, path: run.source },
    within: params.within,
    mode: params.mode ?? 'missing',
    batch: params.batch ?? 16,
    concurrency: params.concurrency ?? 2,
    queue: params.queue ?? 'inprocess',
    model,
  };
}

function retrying(ctx: IndexContext, run: RunInfo, what: string, signal?: AbortSignal): RetryOptions {
  return {
    signal,
    onRetry: (err, attempt, delayMs) => {
      const { code, message } = describeError(err);
      ctx.logger.warn(
        { runId: run.id, stage: what, attempt, delayMs: Math.round(delayMs), code },
        `${what}: ${message}; retrying`,
      );
      // Visible in `fever run <id>` while the stage waits; cleared by the next recorded batch.
      void ctx.metadata.indexing
        .noteError(run.id, { code, message: `${what}: ${message} (retrying)` })
        .catch(() => {});
    },
  };
}

// ---------------------------------------------------------------------------------------------
// discover

/**
 * Walks the run's source and emits batches of entries that still need work. Entries go into the
 * ledger as pending first (counted once into imagesSeen however often the walk is repeated).
 *
 * Resuming: pending entries left by an earlier walk are either met again on this walk (and
 * emitted) or gone from the source; after the walk, gone files are emitted by path (the embed
 * stage then records them as not found) and gone archive members are recorded as failed. Once a
 * walk has finished (discoveredAt set), a file source is not walked again: its pending entries
 * are re-emitted straight from the ledger.
 *
 * Returns completed=false when `signal` stopped the walk early.
 */
export async function discover(
  ctx: IndexContext,
  run: RunInfo,
  emit: (entries: SourceEntry[]) => Promise<void>,
  options: StageOptions = {},
): Promise<{ completed: boolean }> {
  const { signal } = options;
  const retry = retrying(ctx, run, 'discover', signal);
  const { indexing, indexRuns } = ctx.metadata;
  const current = await withRetry(() => indexRuns.require(run.id), retry);
  // Pending entries are bounded by the work in flight (discovery waits on full queues), so
  // holding their uris is cheap.
  const leftover = new Set<string>();
  for (let after: string | undefined; ; ) {
    const page = await withRetry(
      () => indexing.listEntries(run.id, { outcome: 'pending', limit: 5000, afterUri: after }),
      retry,
    );
    for (const e of page) leftover.add(e.uri);
    if (page.length < 5000) break;
    after = page[page.length - 1]!.uri;
  }
  const archive = isArchive(run.source.kind);

  if (current.discoveredAt && !archive) {
    for (const chunk of chunked([...leftover], run.batch)) {
      if (signal?.aborted) return { completed: false };
      await emit(chunk.map((uri) => ({ uri, path: uri })));
    }
    return { completed: true };
  }

  let buffer: SourceEntry[] = [];
  const flush = async () => {
    const entries = dedupe(buffer);
    buffer = [];
    if (entries.length === 0) return;
    const { todo } = await withRetry(
      () =>
        timed(ctx.metrics?.metadataWriteDuration, { op: 'ledger' }, () =>
          indexing.addEntries(
            run.id,
            entries.map((e) => e.uri),
          ),
        ),
      retry,
    );
    const wanted = new Set(todo);
    const out = entries.filter((e) => wanted.has(e.uri));
    if (out.length > 0) await emit(out);
  };

  for await (const entry of walkSource(run.source, signal, run.within)) {
    leftover.delete(entry.uri);
    buffer.push(entry);
    if (buffer.length >= run.batch) await flush();
    if (signal?.aborted) break;
  }
  await flush();
  if (signal?.aborted) return { completed: false };

  if (leftover.size > 0) {
    ctx.logger.info(
      { runId: run.id, entries: leftover.size },
      'entries of an earlier walk are gone from the source',
    );
    if (archive) {
      const gone: EntryResult[] = [...leftover].map((uri) => ({
        uri,
        outcome: 'failed',
        errorCode: 'ENTRY_GONE',
        errorMessage: `${uri} was discovered by an earlier walk but is no longer in the archive`,
      }));
      for (const chunk of chunked(gone, 1000)) {
        await withRetry(
          () => indexing.record({ runId: run.id, model: modelKey(run.model), entries: chunk }),
          retry,
        );
      }
    } else {
      for (const chunk of chunked([...leftover], run.batch))
        await emit(chunk.map((uri) => ({ uri, path: uri })));
    }
  }
  await withRetry(() => indexing.markDiscovered(run.id), retry);
  return { completed: true };
}

function dedupe(entries: SourceEntry[]): SourceEntry[] {
  const seen = new Set<string>();
  return entries.filter((e) => !seen.has(e.uri) && seen.add(e.uri));
}

// ---------------------------------------------------------------------------------------------
// embed

interface ReadItem {
  entry: SourceEntry;
  bytes: Uint8Array;
  sha256: string;
}

/**
 * Turns a batch of entries into per-entry results: faces with embeddings, a skip, or a failure
 * with its code. Bad input never throws (it becomes a failed result); a dependency that stays
 * down does (after retries), so the batch is tried again later.
 */
export async function embedBatch(
  ctx: IndexContext,
  run: RunInfo,
  entries: readonly SourceEntry[],
  options: StageOptions = {},
): Promise<EmbedOutput> {
  const retry = retrying(ctx, run, 'embed', options.signal);
  const { indexing } = ctx.metadata;
  const results: EmbedResult[] = [];
  const timings = { decodeMs: 0, embedMs: 0 };

  // A replayed or duplicated job finds its entries already recorded: nothing to do.
  const pending = await withRetry(
    () =>
      indexing.pendingAmong(
        run.id,
        entries.map((e) => e.uri),
      ),
    retry,
  );
  const todo = dedupe(entries.filter((e) => pending.has(e.uri)));
  if (todo.length === 0) return { runId: run.id, results, timings };

  const t0 = performance.now();
  const read = await mapLimit(todo, READ_CONCURRENCY, async (entry): Promise<ReadItem | EmbedResult> => {
    if (entry.error) return failed(entry.uri, entry.error.code, entry.error.message);
    try {
      const bytes =
        entry.bytes ??
        (await withRetry(() => readImageBytes(entry.path ?? entry.uri, entry.uri, run.within), retry));
      return { entry, bytes, sha256: sha256Bytes(bytes) };
    } catch (err) {
      if (isTransient(err)) throw err;
      const { code, message } = describeError(err);
      return failed(entry.uri, code, message);
    }
  });
  const readMs = performance.now() - t0;
  timings.decodeMs += readMs;
  ctx.metrics?.encoderDuration.observe({ step: 'read' }, readMs / 1000);
  const items: ReadItem[] = [];
  for (const r of read) {
    if ('outcome' in r) results.push(r);
    else items.push(r);
  }
  if (items.length === 0) return { runId: run.id, results, timings };

  const rows = await withRetry(
    () =>
      timed(ctx.metrics?.metadataWriteDuration, { op: 'images' }, () =>
        indexing.upsertImages(
          items.map((i) => ({
            collectionId: run.collectionId,
            sha256: i.sha256,
            uri: i.entry.uri,
            sizeBytes: i.bytes.byteLength,
          })),
        ),
      ),
    retry,
  );
  const imageId = (sha: string) => rows.get(sha)!.id;
  const markers = await withRetry(
    () =>
      indexing.embedded(
        items.map((i) => imageId(i.sha256)),
        modelKey(run.model),
      ),
    retry,
  );

  // One embedding per content: the same bytes at two uris follow the first.
  const primaries = new Map<string, ReadItem>();
  const duplicates: ReadItem[] = [];
  for (const item of items) {
    const id = imageId(item.sha256);
    const before = markers.get(id);
    if (run.mode === 'missing' && before !== undefined) {
      results.push({
        uri: item.entry.uri,
        outcome: 'skipped',
        imageId: id,
        faceCount: before,
        reason: 'ALREADY_EMBEDDED',
      });
    } else if (primaries.has(item.sha256)) {
      duplicates.push(item);
    } else {
      primaries.set(item.sha256, item);
    }
  }

  const bySha = new Map<string, EmbedResult>();
  const queue = [...primaries.values()];
  const encoder = await ctx.encoder();
  let chunk: { item: ReadItem; image: RgbImage }[] = [];
  let pixels = 0;
  // Per batch, the decode and encode steps on their own (timings.decodeMs also counts reads).
  let decodeMs = 0;
  let encodeMs = 0;
  const flush = async () => {
    if (chunk.length === 0) return;
    const current = chunk;
    chunk = [];
    pixels = 0;
    const t = performance.now();
    const faces = await encodeIsolating(
      encoder,
      current.map((c) => c.image),
    );
    const ms = performance.now() - t;
    timings.embedMs += ms;
    encodeMs += ms;
    current.forEach(({ item, image }, i) => {
      const found = faces[i]!;
      const id = imageId(item.sha256);
      bySha.set(
        item.sha256,
        found instanceof Error
          ? failed(item.entry.uri, 'ENCODE_FAILED', `${item.entry.uri}: ${found.message}`, id)
          : {
              uri: item.entry.uri,
              outcome: 'indexed',
              imageId: id,
              sha256: item.sha256,
              width: image.width,
              height: image.height,
              faces: found,
              previousFaceCount: markers.get(id),
            },
      );
    });
  };
  for (let start = 0; start < queue.length; start += READ_CONCURRENCY) {
    const slice = queue.slice(start, start + READ_CONCURRENCY);
    const t = performance.now();
    const decoded = await Promise.all(
      slice.map((item) =>
        decodeImage(item.bytes, { maxPixels: ctx.config.maxPixels, name: item.entry.uri }).then(
          (image) => ({ item, image }),
          (err: unknown) => {
            if (isTransient(err)) throw err;
            const { code, message } = describeError(err);
            bySha.set(item.sha256, failed(item.entry.uri, code, message, imageId(item.sha256)));
            return undefined;
          },
        ),
      ),
    );
    const ms = performance.now() - t;
    timings.decodeMs += ms;
    decodeMs += ms;
    for (const d of decoded) {
      if (!d) continue;
      chunk.push(d);
      pixels += d.image.width * d.image.height;
    }
    if (pixels >= PIXEL_BUDGET || chunk.length >= run.batch) await flush();
  }
  await flush();
  if (queue.length > 0) {
    ctx.metrics?.encoderDuration.observe({ step: 'decode' }, decodeMs / 1000);
    ctx.metrics?.encoderDuration.observe({ step: 'encode' }, encodeMs / 1000);
  }

  for (const item of primaries.values()) results.push(bySha.get(item.sha256)!);
  for (const item of duplicates) {
    const first = bySha.get(item.sha256)!;
    results.push(
      first.outcome === 'failed'
        ? { ...first, uri: item.entry.uri }
        : {
            uri: item.entry.uri,
            outcome: 'skipped',
            imageId: first.imageId,
            faceCount: first.outcome === 'indexed' ? first.faces.length : first.faceCount,
            reason: 'DUPLICATE_CONTENT',
          },
    );
  }
  return { runId: run.id, results, timings };
}

/** Encodes a batch; if the batch fails, each image alone, so one bad image fails only itself. */
async function encodeIsolating(
  encoder: Awaited<ReturnType<IndexContext['encoder']>>,
  images: RgbImage[],
): Promise<(EncodedFace[] | Error)[]> {
  try {
    return await encoder.encode(images);
  } catch (err) {
    if (isTransient(err) || images.length === 1) {
      if (images.length === 1 && !isTransient(err))
        return [err instanceof Error ? err : new Error(String(err))];
      throw err;
    }
    const out: (EncodedFace[] | Error)[] = [];
    for (const image of images) out.push(...(await encodeIsolating(encoder, [image])));
    return out;
  }
}

function sha256Bytes(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function failed(uri: string, code: string, message: string, imageId?: number): EmbedResult {
  return imageId === undefined
    ? { uri, outcome: 'failed', errorCode: code, errorMessage: message }
    : { uri, outcome: 'failed', imageId, errorCode: code, errorMessage: message };
}

const TRANSIENT_IO = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY', 'ENOMEM', 'ETIMEDOUT', 'EINTR', 'EIO']);

/**
 * The bytes of an image file, with the decoder's error codes for what can go wrong. With
 * `within`, only a file whose real path lies under one of those real paths is read.
 */
export async function readImageBytes(
  path: string,
  name: string,
  within?: readonly string[],
): Promise<Uint8Array> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    if (within) {
      const opened = await openWithin(path, within);
      if (!opened.ok) throw refused(opened.reason, path, within);
      handle = opened.handle;
    } else {
      handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
    }
  } catch (err) {
    if (err instanceof FeverError) throw err;
    throw ioError(err, name);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new InputError('IMAGE_UNREADABLE', `Image "${name}" is not a regular file`);
    if (info.size > MAX_ENTRY_BYTES) {
      throw new InputError(
        'IMAGE_TOO_LARGE',
        `Image "${name}" is ${info.size} bytes, over the ${MAX_ENTRY_BYTES}-byte limit`,
      );
    }
    const bytes = await handle.readFile();
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (err) {
    if (err instanceof FeverError) throw err;
    throw ioError(err, name);
  } finally {
    await handle.close();
  }
}

/** Why openWithin refused a file, as the error its entry fails with. */
function refused(
  reason: 'outside' | 'missing' | 'not-a-file' | 'changed',
  path: string,
  within: readonly string[],
): FeverError {
  if (reason === 'missing') return new InputError('IMAGE_NOT_FOUND', `Image "${path}" not found`);
  if (reason === 'not-a-file')
    return new InputError('IMAGE_UNREADABLE', `Image "${path}" is not a regular file`);
  const { code, message } = linkOutside(path, within).error!;
  return new InputError(code, message);
}

function ioError(err: unknown, name: string): FeverError {
  const code = (err as NodeJS.ErrnoException).code;
  const reason = (err as Error).message;
  if (code === 'ENOENT' || code === 'ENOTDIR')
    return new InputError('IMAGE_NOT_FOUND', `Image "${name}" not found`);
  if (code && TRANSIENT_IO.has(code)) {
    return new TransientError('IMAGE_IO_TRANSIENT', `Cannot read image "${name}" now (${reason})`, {
      cause: err,
    });
  }
  return new InputError('IMAGE_UNREADABLE', `Cannot read image "${name}" (${reason})`);
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

// ---------------------------------------------------------------------------------------------
// write

/**
 * Writes a batch's vectors, then records the batch in one metadata transaction. Vectors go
 * first: a crash in between leaves vectors without metadata, which the replay overwrites under
 * the same ids; never metadata (an embedded marker) without its vectors.
 */
export async function writeBatch(
  ctx: IndexContext,
  run: RunInfo,
  output: EmbedOutput,
  options: StageOptions = {},
): Promise<IndexRun> {
  const vectors = ctx.vectors;
  if (!vectors) {
    throw new FeverError(
      'VECTORS_NOT_OPEN',
      'this process does not hold the vector store; the write stage runs where it is open',
    );
  }
  const retry = retrying(ctx, run, 'write', options.signal);
  const t0 = performance.now();
  const { model } = run;
  await withRetry(() => ensureVectorCollection(vectors, model), retry);
  const key = modelKey(model);
  const points: Point[] = [];
  const stale: string[] = [];
  const entries: EntryResult[] = [];
  for (const r of output.results) {
    if (r.outcome !== 'indexed') {
      entries.push(r.outcome === 'skipped' ? r : { ...r });
      continue;
    }
    const faces: NewFace[] = r.faces.map((face, faceIndex) => {
      const id = facePointId({
        collectionId: run.collectionId,
        imageSha256: r.sha256,
        faceIndex,
        modelId: model.id,
        modelVersion: model.version,
      });
      const label = face.label ?? '';
      points.push({
        id,
        vector: face.embedding,
        payload: {
          collection: run.collectionName,
          imageId: String(r.imageId),
          label,
          score: face.score,
          model: `${model.id}@${model.version}`,
        },
      });
      return {
        id,
        imageId: r.imageId,
        collectionId: run.collectionId,
        faceIndex,
        box: face.box,
        detectionScore: face.score,
        probs: face.probs ? Array.from(face.probs) : [],
        label,
        ...key,
      };
    });
    for (let i = r.faces.length; i < (r.previousFaceCount ?? 0); i++) {
      stale.push(
        facePointId({
          collectionId: run.collectionId,
          imageSha256: r.sha256,
          faceIndex: i,
          modelId: model.id,
          modelVersion: model.version,
        }),
      );
    }
    entries.push({
      uri: r.uri,
      outcome: 'indexed',
      imageId: r.imageId,
      width: r.width,
      height: r.height,
      faces,
    });
  }
  const vectorTime = ctx.metrics?.vectorStoreDuration;
  if (stale.length > 0) {
    await withRetry(
      () => timed(vectorTime, { op: 'delete' }, () => vectors.deleteByIds(model.vectorCollection, stale)),
      retry,
    );
  }
  if (points.length > 0) {
    await withRetry(
      () => timed(vectorTime, { op: 'upsert' }, () => vectors.upsert(model.vectorCollection, points)),
      retry,
    );
  }
  const { run: row, moved } = await withRetry(
    () =>
      timed(ctx.metrics?.metadataWriteDuration, { op: 'record' }, () =>
        ctx.metadata.indexing.record({
          runId: run.id,
          model: key,
          entries,
          timings: { ...output.timings, writeMs: performance.now() - t0 },
        }),
      ),
    retry,
  );
  ctx.metrics?.recorded(entries, moved);
  if (row.errorCode && row.status === 'running') {
    await ctx.metadata.indexing.noteError(run.id, null).catch(() => {});
  }
  return row;
}

/** True when discovery has finished and every discovered entry has an outcome. */
export function isRunDone(run: IndexRun): boolean {
  return (
    run.discoveredAt !== null && run.imagesSeen === run.imagesIndexed + run.imagesSkipped + run.imagesFailed
  );
}

/**
 * Completes the run if it is done: the model's alias moves to this version's vector collection
 * (a no-op unless the run indexed a new model version), then the run is marked succeeded. Only a
 * process that holds the vector store can finalize. Returns the run as it is afterwards.
 */
export async function finalizeRun(ctx: IndexContext, runId: string): Promise<IndexRun | undefined> {
  const current = await withRetry(() => ctx.metadata.indexRuns.get(runId));
  if (current?.status !== 'running' || !isRunDone(current) || !ctx.vectors) return current;
  const run = await withRetry(() => loadRun(ctx, runId));
  const vectors = ctx.vectors;
  const retry = retrying(ctx, run, 'finalize');
  await withRetry(() => ensureVectorCollection(vectors, run.model), retry);
  const alias = await withRetry(() => vectors.getAlias(run.model.alias), retry);
  if (alias !== run.model.vectorCollection) {
    await withRetry(() => vectors.swapAlias(run.model.alias, run.model.vectorCollection), retry);
    ctx.logger.info(
      { runId, alias: run.model.alias, from: alias, to: run.model.vectorCollection },
      'searches now use the new model version',
    );
  }
  const completed = await withRetry(() => ctx.metadata.indexing.completeIfDone(runId), retry);
  if (completed) {
    ctx.logger.info(
      {
        runId,
        seen: completed.imagesSeen,
        indexed: completed.imagesIndexed,
        skipped: completed.imagesSkipped,
        failed: completed.imagesFailed,
        faces: completed.facesIndexed,
      },
      'index run succeeded',
    );
    return completed;
  }
  return withRetry(() => ctx.metadata.indexRuns.get(runId));
}

export function modelKey(model: ModelContext): { modelId: string; modelVersion: string } {
  return { modelId: model.id, modelVersion: model.version };
}

function chunked<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
