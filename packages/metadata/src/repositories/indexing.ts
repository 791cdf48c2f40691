/**
 * What the indexer writes besides plain rows: the per-run ledger (index_run_entries), the
 * per-(image, model) "embedded" marker (image_embeddings), and the one transaction that records
 * a batch of outcomes together with its faces and the run counters.
 *
 * Exactly-once: discovery adds ledger rows as `pending` (ON CONFLICT DO NOTHING, counting only
 * rows really inserted into images_seen); recording moves a row from `pending` to its outcome
 * with a conditional UPDATE and adds to the counters only what moved. A replay, a retry or a
 * duplicate job therefore changes nothing, and imagesSeen = indexed + skipped + failed exactly
 * when every discovered entry has an outcome.
 */
import { InputError } from '@fever/errors';
import {
  type EntryOutcome,
  faceIdentities,
  faces,
  type ImageRow,
  type IndexRunEntryRow,
  imageEmbeddings,
  images,
  indexRunEntries,
  indexRuns,
  isUuid,
  settings,
  UNFINISHED_RUN_STATUSES,
} from '@fever/schema';
import {
  type AnyColumn,
  and,
  asc,
  count,
  desc,
  eq,
  getTableColumns,
  gt,
  inArray,
  isNull,
  sql,
} from 'drizzle-orm';
import { chunks } from '../chunks.ts';
import type { Db } from '../db.ts';
import { EXCLUDED_FACE_COLUMNS, type NewFace, toFaceRow } from './faces.ts';
import type { IndexRun } from './index-runs.ts';

export type IndexRunEntry = IndexRunEntryRow;

export interface ModelKey {
  modelId: string;
  modelVersion: string;
}

/** The outcome of one source entry, as the write stage records it. */
export type EntryResult =
  | {
      uri: string;
      outcome: 'indexed';
      imageId: number;
      width: number;
      height: number;
      /** Every face of the image for this model (faceIndex 0..n-1); [] is a valid answer. */
      faces: NewFace[];
    }
  | { uri: string; outcome: 'skipped'; imageId: number; faceCount: number; reason?: string }
  | {
      uri: string;
      outcome: 'failed';
      /** Absent when the bytes could not be read (no image row). */
      imageId?: number;
      errorCode: string;
      errorMessage: string;
    };

export interface RecordBatch {
  runId: string;
  model: ModelKey;
  entries: readonly EntryResult[];
  /** Stage time spent on this batch (ms), added to the run only if some entry moved. */
  timings?: { decodeMs?: number; detectMs?: number; embedMs?: number; writeMs?: number };
}

export interface RecordResult {
  /** The run after the counters moved. */
  run: IndexRun;
  /** Uris whose ledger row moved from pending in this call (the others were already recorded). */
  moved: string[];
}

export interface NewImageRef {
  collectionId: number;
  sha256: string;
  uri: string;
  sizeBytes: number;
}

const SHA256_RE = /^[0-9a-f]{64}$/;
const CHUNK = 1000;

export class IndexingRepository {
  constructor(private readonly db: Db) {}

  /**
   * Adds discovered entries to the run's ledger as `pending` and returns those of `uris` that
   * still need work (new ones and ones left pending by an earlier, interrupted walk), in input
   * order. images_seen grows by the rows really inserted, in the same transaction.
   */
  async addEntries(runId: string, uris: readonly string[]): Promise<{ todo: string[]; added: number }> {
    assertRunId(runId);
    const unique = [...new Set(uris)];
    if (unique.length === 0) return { todo: [], added: 0 };
    return this.db.transaction(async (tx) => {
      let added = 0;
      for (const chunk of chunks(unique, CHUNK)) {
        const inserted = await tx
          .insert(indexRunEntries)
          .values(chunk.map((uri) => ({ runId, uri })))
          .onConflictDoNothing()
          .returning({ uri: indexRunEntries.uri });
        added += inserted.length;
      }
      if (added > 0) {
        await tx
          .update(indexRuns)
          .set({ imagesSeen: sql`${indexRuns.imagesSeen} + ${added}` })
          .where(eq(indexRuns.id, runId));
      }
      const pending = new Set<string>();
      for (const chunk of chunks(unique, CHUNK)) {
        const rows = await tx
          .select({ uri: indexRunEntries.uri })
          .from(indexRunEntries)
          .where(
            and(
              eq(indexRunEntries.runId, runId),
              eq(indexRunEntries.outcome, 'pending'),
              inArray(indexRunEntries.uri, chunk),
            ),
          );
        for (const r of rows) pending.add(r.uri);
      }
      return { todo: unique.filter((u) => pending.has(u)), added };
    });
  }

  /** Those of `uris` whose ledger row is still pending (the rest need no more work). */
  async pendingAmong(runId: string, uris: readonly string[]): Promise<Set<string>> {
    assertRunId(runId);
    const pending = new Set<string>();
    for (const chunk of chunks([...new Set(uris)], CHUNK)) {
      const rows = await this.db
        .select({ uri: indexRunEntries.uri })
        .from(indexRunEntries)
        .where(
          and(
            eq(indexRunEntries.runId, runId),
            eq(indexRunEntries.outcome, 'pending'),
            inArray(indexRunEntries.uri, chunk),
          ),
        );
      for (const r of rows) pending.add(r.uri);
    }
    return pending;
  }

  /**
   * images.upsert for many: one row per (collection, sha256), pointed at the latest uri. Returns
   * the rows by sha256.
   */
  async upsertImages(rows: readonly NewImageRef[]): Promise<Map<string, ImageRow>> {
    const bySha = new Map<string, NewImageRef>();
    for (const row of rows) {
      if (!SHA256_RE.test(row.sha256)) {
        throw new InputError('INVALID_SHA256', 'sha256 must be 64 lower-case hex characters');
      }
      bySha.set(`${row.collectionId}/${row.sha256}`, row);
    }
    const out = new Map<string, ImageRow>();
    // Sorted, so concurrent batches lock rows in one order and never deadlock each other.
    const values = [...bySha.values()].sort((a, b) => (a.sha256 < b.sha256 ? -1 : 1));
    for (const chunk of chunks(values, CHUNK)) {
      if (chunk.length === 0) continue;
      // A row that exists with the same uri is left alone: re-indexing unchanged photos writes nothing.
      const written = await this.db
        .insert(images)
        .values(chunk)
        .onConflictDoUpdate({
          target: [images.collectionId, images.sha256],
          set: { uri: sql`excluded.uri`, updatedAt: sql`now()` },
          setWhere: sql`${images.uri} IS DISTINCT FROM excluded.uri`,
        })
        .returning(getTableColumns(images));
      for (const image of written) out.set(image.sha256, image);
      const rest = chunk.filter((r) => !out.has(r.sha256));
      for (const collectionId of new Set(rest.map((r) => r.collectionId))) {
        const shas = rest.filter((r) => r.collectionId === collectionId).map((r) => r.sha256);
        const found = await this.db
          .select()
          .from(images)
          .where(and(eq(images.collectionId, collectionId), inArray(images.sha256, shas)));
        for (const image of found) out.set(image.sha256, image);
      }
    }
    return out;
  }

  /** Images of `imageIds` already embedded by the model, with their face counts. */
  async embedded(imageIds: readonly number[], model: ModelKey): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    for (const chunk of chunks([...new Set(imageIds)], CHUNK)) {
      if (chunk.length === 0) continue;
      const rows = await this.db
        .select({ imageId: imageEmbeddings.imageId, faceCount: imageEmbeddings.faceCount })
        .from(imageEmbeddings)
        .where(
          and(
            eq(imageEmbeddings.modelId, model.modelId),
            eq(imageEmbeddings.modelVersion, model.modelVersion),
            inArray(imageEmbeddings.imageId, chunk),
          ),
        );
      for (const r of rows) out.set(r.imageId, r.faceCount);
    }
    return out;
  }

  /**
   * Records a batch of outcomes in ONE transaction: ledger rows move from pending, and only for
   * the rows that moved: faces are written (faces of a higher index than the image now has are
   * deleted), the embedded marker is set, the image status is set, and the run counters grow.
   */
  async record(batch: RecordBatch): Promise<RecordResult> {
    assertRunId(batch.runId);
    const { runId, model } = batch;
    const byUri = new Map(batch.entries.map((e) => [e.uri, e]));
    const entries = [...byUri.values()].sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0));
    return this.db.transaction(async (tx) => {
      const moved: string[] = [];
      for (const chunk of chunks(entries, CHUNK)) {
        if (chunk.length === 0) continue;
        const json = JSON.stringify(
          chunk.map((e) => ({
            uri: e.uri,
            outcome: e.outcome,
            image_id: e.imageId ?? null,
            face_count:
              e.outcome === 'indexed' ? e.faces.length : e.outcome === 'skipped' ? e.faceCount : null,
            error_code: e.outcome === 'failed' ? e.errorCode : null,
            error_message:
              e.outcome === 'failed' ? e.errorMessage : e.outcome === 'skipped' ? (e.reason ?? null) : null,
          })),
        );
        const rows = await tx.execute<{ uri: string }>(sql`
          UPDATE ${indexRunEntries} AS e
          SET outcome = v.outcome, image_id = v.image_id, face_count = v.face_count,
              error_code = v.error_code, error_message = v.error_message, finished_at = now()
          FROM jsonb_to_recordset(${json}::jsonb)
            AS v(uri text, outcome text, image_id integer, face_count integer, error_code text, error_message text)
          WHERE e.run_id = ${runId} AND e.uri = v.uri AND e.outcome = 'pending'
          RETURNING e.uri`);
        for (const r of resultRows<{ uri: string }>(rows)) moved.push(r.uri);
      }
      const movedSet = new Set(moved);
      const done = entries.filter((e) => movedSet.has(e.uri));

      // One image may stand behind several entries (the same content at two paths): write its
      // faces once.
      const indexed = new Map<number, Extract<EntryResult, { outcome: 'indexed' }>>();
      for (const e of done) if (e.outcome === 'indexed') indexed.set(e.imageId, e);
      const newFaces = [...indexed.values()]
        .flatMap((e) => e.faces.map((face) => ({ face, collectionId: face.collectionId })))
        .sort((a, b) => (a.face.id < b.face.id ? -1 : 1));
      for (const chunk of chunks(newFaces, CHUNK)) {
        await tx
          .insert(faces)
          .values(chunk.map((f) => toFaceRow(f.face)))
          .onConflictDoUpdate({ target: faces.id, set: EXCLUDED_FACE_COLUMNS });
      }
      // Identity descriptors travel with their faces; a face re-indexed without one loses its old one.
      const described = newFaces.filter((f) => f.face.identity);
      for (const chunk of chunks(described, CHUNK)) {
        await tx
          .insert(faceIdentities)
          .values(
            chunk.map(({ face }) => ({
              faceId: face.id,
              collectionId: face.collectionId,
              model: face.identity!.model,
              descriptor: Array.from(face.identity!.descriptor),
            })),
          )
          .onConflictDoUpdate({
            target: faceIdentities.faceId,
            set: { model: sql`excluded.model`, descriptor: sql`excluded.descriptor`, createdAt: sql`now()` },
          });
      }
      const bare = newFaces.filter((f) => !f.face.identity).map((f) => f.face.id);
      for (const chunk of chunks(bare, CHUNK)) {
        await tx.delete(faceIdentities).where(inArray(faceIdentities.faceId, chunk));
      }
      const images_ = [...indexed.values()].sort((a, b) => a.imageId - b.imageId);
      if (images_.length > 0) {
        const json = JSON.stringify(
          images_.map((e) => ({ image_id: e.imageId, n: e.faces.length, width: e.width, height: e.height })),
        );
        // Faces beyond the image's current count (a re-index that found fewer) are stale.
        await tx.execute(sql`
          DELETE FROM ${faces} AS f
          USING jsonb_to_recordset(${json}::jsonb) AS v(image_id integer, n integer)
          WHERE f.image_id = v.image_id AND f.model_id = ${model.modelId}
            AND f.model_version = ${model.modelVersion} AND f.face_index >= v.n`);
        await tx
          .insert(imageEmbeddings)
          .values(
            images_.map((e) => ({
              imageId: e.imageId,
              modelId: model.modelId,
              modelVersion: model.modelVersion,
              faceCount: e.faces.length,
              runId,
            })),
          )
          .onConflictDoUpdate({
            target: [imageEmbeddings.imageId, imageEmbeddings.modelId, imageEmbeddings.modelVersion],
            set: { faceCount: sql`excluded.face_count`, runId: sql`excluded.run_id`, updatedAt: sql`now()` },
          });
        await tx.execute(sql`
          UPDATE ${images} AS i
          SET status = 'indexed', width = v.width, height = v.height, face_count = v.n,
              error_code = NULL, error_message = NULL, updated_at = now()
          FROM jsonb_to_recordset(${json}::jsonb) AS v(image_id integer, n integer, width integer, height integer)
          WHERE i.id = v.image_id`);
      }
      const failedImages = done.filter(
        (e): e is Extract<EntryResult, { outcome: 'failed' }> & { imageId: number } =>
          e.outcome === 'failed' && e.imageId !== undefined && !indexed.has(e.imageId),
      );
      if (failedImages.length > 0) {
        const json = JSON.stringify(
          failedImages.map((e) => ({ image_id: e.imageId, code: e.errorCode, message: e.errorMessage })),
        );
        await tx.execute(sql`
          UPDATE ${images} AS i
          SET status = 'failed', error_code = v.code, error_message = v.message, updated_at = now()
          FROM jsonb_to_recordset(${json}::jsonb) AS v(image_id integer, code text, message text)
          WHERE i.id = v.image_id`);
      }

      const n = (outcome: EntryOutcome) => done.filter((e) => e.outcome === outcome).length;
      const facesAdded = done.reduce((sum, e) => sum + (e.outcome === 'indexed' ? e.faces.length : 0), 0);
      const t = done.length > 0 ? (batch.timings ?? {}) : {};
      const add = (column: AnyColumn, value: number | undefined) =>
        sql`${column} + ${Math.max(0, Math.round(value ?? 0))}`;
      const [run] = await tx
        .update(indexRuns)
        .set({
          imagesIndexed: add(indexRuns.imagesIndexed, n('indexed')),
          imagesSkipped: add(indexRuns.imagesSkipped, n('skipped')),
          imagesFailed: add(indexRuns.imagesFailed, n('failed')),
          facesIndexed: add(indexRuns.facesIndexed, facesAdded),
          decodeMs: add(indexRuns.decodeMs, t.decodeMs),
          detectMs: add(indexRuns.detectMs, t.detectMs),
          embedMs: add(indexRuns.embedMs, t.embedMs),
          writeMs: add(indexRuns.writeMs, t.writeMs),
        })
        .where(eq(indexRuns.id, runId))
        .returning();
      if (!run) throw new InputError('INDEX_RUN_NOT_FOUND', `index run ${runId} does not exist`);
      return { run, moved };
    });
  }

  /** Discovery has walked the whole source: imagesSeen is final from now on. */
  async markDiscovered(runId: string): Promise<IndexRun> {
    assertRunId(runId);
    const [run] = await this.db
      .update(indexRuns)
      .set({ discoveredAt: sql`coalesce(${indexRuns.discoveredAt}, now())` })
      .where(eq(indexRuns.id, runId))
      .returning();
    if (!run) throw new InputError('INDEX_RUN_NOT_FOUND', `index run ${runId} does not exist`);
    return run;
  }

  /**
   * Marks the run succeeded if discovery has finished and every entry has an outcome. Returns the
   * run when this call completed it (exactly one caller does), undefined otherwise.
   */
  async completeIfDone(runId: string): Promise<IndexRun | undefined> {
    assertRunId(runId);
    const [run] = await this.db
      .update(indexRuns)
      .set({ status: 'succeeded', finishedAt: sql`now()`, errorCode: null, errorMessage: null })
      .where(
        and(
          eq(indexRuns.id, runId),
          eq(indexRuns.status, 'running'),
          sql`${indexRuns.discoveredAt} IS NOT NULL`,
          sql`${indexRuns.imagesSeen} = ${indexRuns.imagesIndexed} + ${indexRuns.imagesSkipped} + ${indexRuns.imagesFailed}`,
        ),
      )
      .returning();
    return run;
  }

  /** Records an error on a run that keeps running (a stage is retrying), or clears it. */
  async noteError(runId: string, error: { code: string; message: string } | null): Promise<void> {
    assertRunId(runId);
    await this.db
      .update(indexRuns)
      .set({ errorCode: error?.code ?? null, errorMessage: error?.message ?? null })
      .where(and(eq(indexRuns.id, runId), isNull(indexRuns.finishedAt)));
  }

  /** The newest unfinished (queued, running, interrupted) run with these parameters (for resuming it), if any. */
  async findUnfinished(filter: {
    collectionId: number;
    source: string;
    model: ModelKey;
    mode: string;
  }): Promise<IndexRun | undefined> {
    const [run] = await this.db
      .select()
      .from(indexRuns)
      .where(
        and(
          eq(indexRuns.collectionId, filter.collectionId),
          eq(indexRuns.source, filter.source),
          eq(indexRuns.modelId, filter.model.modelId),
          eq(indexRuns.modelVersion, filter.model.modelVersion),
          inArray(indexRuns.status, UNFINISHED_RUN_STATUSES),
          sql`${indexRuns.params}->>'mode' = ${filter.mode}`,
        ),
      )
      .orderBy(desc(indexRuns.createdAt))
      .limit(1);
    return run;
  }

  /** Ledger rows of a run by uri; `outcome` filters, `afterUri` pages. */
  async listEntries(
    runId: string,
    page: { outcome?: EntryOutcome; limit?: number; afterUri?: string } = {},
  ): Promise<IndexRunEntry[]> {
    assertRunId(runId);
    return this.db
      .select()
      .from(indexRunEntries)
      .where(
        and(
          eq(indexRunEntries.runId, runId),
          page.outcome === undefined ? undefined : eq(indexRunEntries.outcome, page.outcome),
          page.afterUri === undefined ? undefined : gt(indexRunEntries.uri, page.afterUri),
        ),
      )
      .orderBy(asc(indexRunEntries.uri))
      .limit(page.limit ?? 100);
  }

  /** Ledger rows of a run per outcome. */
  async countEntries(runId: string): Promise<Record<EntryOutcome, number>> {
    assertRunId(runId);
    const rows = await this.db
      .select({ outcome: indexRunEntries.outcome, n: count() })
      .from(indexRunEntries)
      .where(eq(indexRunEntries.runId, runId))
      .groupBy(indexRunEntries.outcome);
    const out: Record<EntryOutcome, number> = { pending: 0, indexed: 0, skipped: 0, failed: 0 };
    for (const r of rows) out[r.outcome] = r.n;
    return out;
  }

  /** Images of a collection that carry the model's embedded marker. */
  async countEmbedded(collectionId: number, model: ModelKey): Promise<number> {
    const [row] = await this.db
      .select({ n: count() })
      .from(imageEmbeddings)
      .innerJoin(images, eq(images.id, imageEmbeddings.imageId))
      .where(
        and(
          eq(images.collectionId, collectionId),
          eq(imageEmbeddings.modelId, model.modelId),
          eq(imageEmbeddings.modelVersion, model.modelVersion),
        ),
      );
    return row?.n ?? 0;
  }

  /** Face ids of a collection for one model, by ascending id; pass the last id as `afterId` to page. */
  async listFaceIds(
    collectionId: number,
    model: ModelKey,
    page: { afterId?: string; limit?: number } = {},
  ): Promise<string[]> {
    const rows = await this.db
      .select({ id: faces.id })
      .from(faces)
      .where(
        and(
          eq(faces.collectionId, collectionId),
          eq(faces.modelId, model.modelId),
          eq(faces.modelVersion, model.modelVersion),
          page.afterId === undefined ? undefined : gt(faces.id, page.afterId),
        ),
      )
      .orderBy(asc(faces.id))
      .limit(page.limit ?? 10_000);
    return rows.map((r) => r.id);
  }

  /**
   * A random id made once per database, naming this deployment's job queues (two deployments or
   * test databases on one Redis never share queues).
   */
  async deploymentId(): Promise<string> {
    await this.db
      .insert(settings)
      .values({ key: 'deployment_id', value: sql`gen_random_uuid()::text` })
      .onConflictDoNothing();
    const [row] = await this.db.select().from(settings).where(eq(settings.key, 'deployment_id'));
    return row!.value;
  }
}

function assertRunId(id: string): void {
  if (!isUuid(id)) throw new InputError('INVALID_RUN_ID', `index run id is not a UUID: '${id}'`);
}

/** postgres.js returns the rows array itself; PGlite returns `{ rows }`. */
function resultRows<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}
