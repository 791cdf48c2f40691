import type { IndexRun } from '@fever/metadata';
import { ensureVectorCollection } from '../models.ts';
import type { Runtime } from '../runtime.ts';
import { loadRun } from './load-run.ts';
import { withRetry } from './retry.ts';
import { stageRetry } from './stage-retry.ts';

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
export async function finalizeRun(runtime: Runtime, runId: string): Promise<IndexRun | undefined> {
  const current = await withRetry(() => runtime.metadata.indexRuns.get(runId));
  if (current?.status !== 'running' || !isRunDone(current) || !runtime.vectors) return current;
  const run = await withRetry(() => loadRun(runtime, runId));
  const vectors = runtime.vectors;
  const retry = stageRetry(runtime, run, 'finalize');
  await withRetry(() => ensureVectorCollection(vectors, run.model), retry);
  const alias = await withRetry(() => vectors.getAlias(run.model.alias), retry);
  if (alias !== run.model.vectorCollection) {
    await withRetry(() => vectors.swapAlias(run.model.alias, run.model.vectorCollection), retry);
    runtime.logger.info(
      { runId, alias: run.model.alias, from: alias, to: run.model.vectorCollection },
      'searches now use the new model version',
    );
  }
  const completed = await withRetry(() => runtime.metadata.indexing.completeIfDone(runId), retry);
  if (completed) {
    runtime.logger.info(
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
  return withRetry(() => runtime.metadata.indexRuns.get(runId));
}
