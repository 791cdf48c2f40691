/**
 * The in-process runner: the three stages joined by bounded channels in this process (the
 * embedded default, with no Redis). discover → [channel] → N embed tasks → [channel] → 1 writer.
 * A full channel makes the stage before it wait, so memory stays flat on any source size.
 */
import { processTag } from '@fever/files';
import type { IndexRun } from '@fever/metadata';
import type { Runtime } from '../runtime.ts';
import { Channel } from './channel.ts';
import { discover } from './discover.ts';
import { embedBatch } from './embed.ts';
import { finalizeRun } from './finalize.ts';
import { describeError, withRetry } from './retry.ts';
import type { EmbedOutput, RunInfo, Stage } from './run.ts';
import type { SourceEntry } from './sources.ts';
import { writeBatch } from './write.ts';

export interface InProcessOptions {
  /** Aborting stops discovery; what was discovered is still embedded and written (a drain). */
  signal?: AbortSignal;
}

/**
 * Runs the run to its end (or until `signal` stops it and the pipeline has drained). Returns the
 * run row afterwards: succeeded, failed (a stage's error outlived its retries), or still running
 * when it was stopped (run it again to resume).
 */
export async function runInProcess(
  runtime: Runtime,
  run: RunInfo,
  options: InProcessOptions = {},
): Promise<IndexRun> {
  const { metadata, logger, metrics } = runtime;
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) stop.abort();

  const capacity = Math.max(2, run.concurrency);
  const toEmbed = new Channel<SourceEntry[]>(capacity);
  const toWrite = new Channel<EmbedOutput>(capacity);
  let fatal: unknown;
  // The walk and each batch count as one job of their stage, as under BullMQ (where a stage's
  // retries happen inside the job here too: withRetry in the stages).
  const failed = (stage: Stage, err: unknown) => metrics.job(stage, 'failed', describeError(err).code);
  const fail = (err: unknown) => {
    if (fatal === undefined) fatal = err;
    stop.abort();
    toEmbed.discard();
    toWrite.discard();
  };

  await withRetry(() => metadata.indexRuns.start(run.id, { runner: processTag() }));
  const discovering = (async () => {
    try {
      const { completed } = await discover(runtime, run, (entries) => toEmbed.push(entries), {
        signal: stop.signal,
      });
      if (completed) metrics.job('discover', 'completed');
    } catch (err) {
      if (fatal === undefined && !(stop.signal.aborted && isClosedChannel(err))) {
        failed('discover', err);
        fail(err);
      }
    } finally {
      toEmbed.close();
    }
  })();
  const embedding = Array.from({ length: run.concurrency }, async () => {
    for await (const entries of toEmbed) {
      if (fatal !== undefined) break;
      let output: EmbedOutput;
      try {
        output = await embedBatch(runtime, run, entries);
        metrics.job('embed', 'completed');
      } catch (err) {
        if (fatal === undefined) {
          failed('embed', err);
          fail(err);
        }
        continue;
      }
      try {
        await toWrite.push(output);
      } catch (err) {
        if (fatal === undefined) fail(err);
      }
    }
  });
  const writing = (async () => {
    for await (const output of toWrite) {
      if (fatal !== undefined) break;
      try {
        await writeBatch(runtime, run, output);
        metrics.job('write', 'completed');
      } catch (err) {
        failed('write', err);
        fail(err);
      }
    }
  })();

  await Promise.all(embedding);
  toWrite.close();
  await Promise.all([writing, discovering]);
  options.signal?.removeEventListener('abort', onAbort);

  if (fatal !== undefined) {
    const { code, message } = describeError(fatal);
    logger.error({ runId: run.id, code, err: fatal }, `index run failed: ${message}`);
    return withRetry(() =>
      metadata.indexRuns.finish(run.id, { status: 'failed', errorCode: code, errorMessage: message }),
    );
  }
  const after =
    (await finalizeRun(runtime, run.id)) ?? (await withRetry(() => metadata.indexRuns.require(run.id)));
  if (after.status === 'running' && !options.signal?.aborted) {
    logger.warn(
      { runId: run.id },
      'the pipeline drained but the run is not complete; run it again to resume',
    );
  }
  return after;
}

function isClosedChannel(err: unknown): boolean {
  return err instanceof Error && err.message === 'channel closed';
}
