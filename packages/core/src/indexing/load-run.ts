import { InputError, NotFoundError } from '@fever/errors';
import type { Runtime } from '../runtime.ts';
import { DEFAULT_BATCH, DEFAULT_CONCURRENCY, type RunInfo, type RunParams } from './run.ts';
import { describeSource } from './sources.ts';

const runCache = new WeakMap<Runtime, Map<string, Promise<RunInfo>>>();

/** The run's fixed facts. Throws NotFoundError for an unknown run, FeverError MODEL_MISMATCH when
 * this process runs another model version than the run indexes. */
export function loadRun(runtime: Runtime, runId: string): Promise<RunInfo> {
  let byId = runCache.get(runtime);
  if (!byId) {
    byId = new Map();
    runCache.set(runtime, byId);
  }
  const cache = byId;
  let info = cache.get(runId);
  if (!info) {
    info = readRun(runtime, runId);
    info.catch(() => cache.delete(runId));
    cache.set(runId, info);
  }
  return info;
}

async function readRun(runtime: Runtime, runId: string): Promise<RunInfo> {
  const run = await runtime.metadata.indexRuns.get(runId);
  if (!run) throw new NotFoundError('INDEX_RUN_NOT_FOUND', `index run ${runId} does not exist`);
  const model = await runtime.model();
  if (run.modelId !== model.id || run.modelVersion !== model.version) {
    throw new InputError(
      'MODEL_MISMATCH',
      `index run ${runId} embeds with ${run.modelId}@${run.modelVersion}, but this process runs ${model.id}@${model.version}`,
    );
  }
  const collection = await runtime.metadata.collections.getById(run.collectionId);
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
    batch: params.batch ?? DEFAULT_BATCH,
    concurrency: params.concurrency ?? DEFAULT_CONCURRENCY,
    queue: params.queue ?? 'inprocess',
    model,
    identity: collection.identityDescriptors,
  };
}
