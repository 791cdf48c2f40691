import {
  decodeImage,
  type Face as EncodedFace,
  type Encoder,
  type RgbImage,
  readImageFile,
  sha256Bytes,
} from '@fever/encoder';
import { type FeverError, InputError } from '@fever/errors';
import { openWithin } from '@fever/files';
import type { Runtime } from '../runtime.ts';
import { timed } from './metrics.ts';
import { describeError, isTransient, withRetry } from './retry.ts';
import {
  type EmbedOutput,
  type EmbedResult,
  modelKey,
  type RunInfo,
  type StageOptions,
  uniqueEntries,
} from './run.ts';
import { linkOutside, MAX_ENTRY_BYTES, type SourceEntry } from './sources.ts';
import { stageRetry } from './stage-retry.ts';

/** Decoded pixels per Encoder.encode call at most (≈ 120 MB of RGB), whatever the batch size. */
const PIXEL_BUDGET = 40_000_000;
/** Files read and decoded at once within a batch (sharp decodes on the libuv pool). */
const READ_CONCURRENCY = 4;

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
  runtime: Runtime,
  run: RunInfo,
  entries: readonly SourceEntry[],
  options: StageOptions = {},
): Promise<EmbedOutput> {
  const retry = stageRetry(runtime, run, 'embed', options.signal);
  const { indexing } = runtime.metadata;
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
  const todo = uniqueEntries(entries.filter((e) => pending.has(e.uri)));
  if (todo.length === 0) return { runId: run.id, results, timings };

  const t0 = performance.now();
  const read = await mapLimit(todo, READ_CONCURRENCY, async (entry): Promise<ReadItem | EmbedResult> => {
    if (entry.error) return failed(entry.uri, entry.error.code, entry.error.message);
    try {
      const bytes =
        entry.bytes ??
        (await withRetry(() => readEntryFile(entry.path ?? entry.uri, entry.uri, run.within), retry));
      return { entry, bytes, sha256: sha256Bytes(bytes) };
    } catch (err) {
      if (isTransient(err)) throw err;
      const { code, message } = describeError(err);
      return failed(entry.uri, code, message);
    }
  });
  const readMs = performance.now() - t0;
  timings.decodeMs += readMs;
  runtime.metrics.encoderDuration.observe({ step: 'read' }, readMs / 1000);
  const items: ReadItem[] = [];
  for (const r of read) {
    if ('outcome' in r) results.push(r);
    else items.push(r);
  }
  if (items.length === 0) return { runId: run.id, results, timings };

  const rows = await withRetry(
    () =>
      timed(runtime.metrics.metadataWriteDuration, { op: 'images' }, () =>
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
  const encoder = await runtime.encoder();
  const identityNet = run.identity ? encoder.identity?.network.manifest : undefined;
  const identityModel = identityNet && `${identityNet.id}@${identityNet.version}`;
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
      run.identity,
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
              ...(identityModel ? { identityModel } : {}),
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
        decodeImage(item.bytes, { maxPixels: runtime.config.maxPixels, name: item.entry.uri }).then(
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
    runtime.metrics.encoderDuration.observe({ step: 'decode' }, decodeMs / 1000);
    runtime.metrics.encoderDuration.observe({ step: 'encode' }, encodeMs / 1000);
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
  encoder: Encoder,
  images: RgbImage[],
  identity: boolean,
): Promise<(EncodedFace[] | Error)[]> {
  try {
    return await encoder.encode(images, { identity });
  } catch (err) {
    if (isTransient(err) || images.length === 1) {
      if (images.length === 1 && !isTransient(err))
        return [err instanceof Error ? err : new Error(String(err))];
      throw err;
    }
    const out: (EncodedFace[] | Error)[] = [];
    for (const image of images) out.push(...(await encodeIsolating(encoder, [image], identity)));
    return out;
  }
}

function failed(uri: string, code: string, message: string, imageId?: number): EmbedResult {
  return imageId === undefined
    ? { uri, outcome: 'failed', errorCode: code, errorMessage: message }
    : { uri, outcome: 'failed', imageId, errorCode: code, errorMessage: message };
}

/**
 * The bytes of an entry's file, with the decoder's error codes for what can go wrong. With
 * `within`, only a file whose real path lies under one of those real paths is read (links
 * resolved, and a link swapped in meanwhile caught).
 */
export function readEntryFile(path: string, name: string, within?: readonly string[]): Promise<Uint8Array> {
  return readImageFile(path, {
    name,
    maxBytes: MAX_ENTRY_BYTES,
    ...(within ? { open: openUnder(within) } : {}),
  });
}

/** Opens a file only under `within`; a refusal is the error its entry fails with. */
function openUnder(within: readonly string[]) {
  return async (path: string) => {
    const opened = await openWithin(path, within);
    if (opened.ok) return opened.handle;
    throw refused(opened.reason, path, within);
  };
}

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
