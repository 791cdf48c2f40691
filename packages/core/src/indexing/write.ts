import { FeverError } from '@fever/errors';
import type { EntryResult, IndexRun, NewFace } from '@fever/metadata';
import { facePointId } from '@fever/schema';
import type { Point } from '@fever/vectors';
import { ensureVectorCollection } from '../models.ts';
import type { Runtime } from '../runtime.ts';
import { timed } from './metrics.ts';
import { withRetry } from './retry.ts';
import { type EmbedOutput, modelKey, type RunInfo, type StageOptions } from './run.ts';
import { stageRetry } from './stage-retry.ts';

/**
 * Writes a batch's vectors, then records the batch in one metadata transaction. Vectors go
 * first: a crash in between leaves vectors without metadata, which the replay overwrites under
 * the same ids; never metadata (an embedded marker) without its vectors.
 */
export async function writeBatch(
  runtime: Runtime,
  run: RunInfo,
  output: EmbedOutput,
  options: StageOptions = {},
): Promise<IndexRun> {
  const vectors = runtime.vectors;
  if (!vectors) {
    throw new FeverError(
      'VECTORS_NOT_OPEN',
      'this process does not hold the vector store; the write stage runs where it is open',
    );
  }
  const retry = stageRetry(runtime, run, 'write', options.signal);
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
        ...(face.identity && r.identityModel
          ? { identity: { model: r.identityModel, descriptor: face.identity } }
          : {}),
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
  const vectorTime = runtime.metrics.vectorStoreDuration;
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
      timed(runtime.metrics.metadataWriteDuration, { op: 'record' }, () =>
        runtime.metadata.indexing.record({
          runId: run.id,
          model: key,
          entries,
          timings: { ...output.timings, writeMs: performance.now() - t0 },
        }),
      ),
    retry,
  );
  runtime.metrics.recorded(entries, moved);
  if (row.errorCode && row.status === 'running') {
    await runtime.metadata.indexing.noteError(run.id, null).catch(() => {});
  }
  return row;
}
