import type { EntryResult } from '@fever/metadata';
import type { Runtime } from '../runtime.ts';
import { timed } from './metrics.ts';
import { withRetry } from './retry.ts';
import { modelKey, type RunInfo, type StageOptions, uniqueEntries } from './run.ts';
import { isArchive, type SourceEntry, walkSource } from './sources.ts';
import { stageRetry } from './stage-retry.ts';

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
  runtime: Runtime,
  run: RunInfo,
  emit: (entries: SourceEntry[]) => Promise<void>,
  options: StageOptions = {},
): Promise<{ completed: boolean }> {
  const { signal } = options;
  const retry = stageRetry(runtime, run, 'discover', signal);
  const { indexing, indexRuns } = runtime.metadata;
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
    const entries = uniqueEntries(buffer);
    buffer = [];
    if (entries.length === 0) return;
    const { todo } = await withRetry(
      () =>
        timed(runtime.metrics?.metadataWriteDuration, { op: 'ledger' }, () =>
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
    runtime.logger.info(
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

function chunked<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
