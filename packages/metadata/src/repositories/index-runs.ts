import { InputError, NotFoundError } from '@fever/errors';
import {
  type FinishedRunStatus,
  type IndexRunRow,
  indexRuns,
  type RunStatus,
  UNFINISHED_RUN_STATUSES,
} from '@fever/schema';
import { and, desc, eq, inArray, isNull, type SQL, sql } from 'drizzle-orm';
import type { Db } from '../db.ts';
import { FOREIGN_KEY_VIOLATION, sqlState, UNIQUE_VIOLATION } from '../pg-errors.ts';
import { assertRunId } from './run-status.ts';

export type IndexRun = IndexRunRow;

export const INDEX_RUN_COUNTERS = [
  'imagesSeen',
  'imagesIndexed',
  'imagesSkipped',
  'imagesFailed',
  'facesIndexed',
  'decodeMs',
  'detectMs',
  'embedMs',
  'writeMs',
] as const;
export type IndexRunCounter = (typeof INDEX_RUN_COUNTERS)[number];
export type IndexRunCounts = Record<IndexRunCounter, number>;

export interface NewIndexRun {
  collectionId: number;
  modelId: string;
  modelVersion: string;
  source?: string | null;
  params?: Record<string, unknown>;
  /** `running` starts the clock now; default `queued`. */
  status?: 'queued' | 'running';
}

export interface RunOutcome {
  status: FinishedRunStatus;
  errorCode?: string | null;
  errorMessage?: string | null;
}

export class IndexRunsRepository {
  constructor(private readonly db: Db) {}

  async create(input: NewIndexRun): Promise<IndexRun> {
    const status = input.status ?? 'queued';
    try {
      const [row] = await this.db
        .insert(indexRuns)
        .values({
          collectionId: input.collectionId,
          modelId: input.modelId,
          modelVersion: input.modelVersion,
          source: input.source ?? null,
          params: input.params ?? {},
          status,
          startedAt: status === 'running' ? sql`now()` : null,
        })
        .returning();
      return row!;
    } catch (err) {
      if (sqlState(err) === UNIQUE_VIOLATION) {
        throw new InputError(
          'INDEX_RUN_EXISTS',
          'an unfinished run of the same collection, source, model version and mode exists; start it to resume it',
          { status: 409 },
        );
      }
      if (sqlState(err) === FOREIGN_KEY_VIOLATION) {
        throw new NotFoundError(
          'INDEX_RUN_REFERENCE_MISSING',
          `collection ${input.collectionId} or model ${input.modelId}@${input.modelVersion} does not exist`,
        );
      }
      throw err;
    }
  }

  /**
   * Marks a queued or interrupted run running (a no-op on a running one; an interrupted run's
   * error is cleared). `params` are merged into the run's params. A finished run cannot restart: InputError `run_finished` (409), so a late
   * worker learns that the run was cancelled.
   */
  async start(id: string, params?: Record<string, unknown>): Promise<IndexRun> {
    assertRunId(id, 'index run');
    const [row] = await this.db
      .update(indexRuns)
      .set({
        status: 'running',
        ...(params === undefined
          ? {}
          : { params: sql`${indexRuns.params} || ${JSON.stringify(params)}::jsonb` }),
        startedAt: sql`coalesce(${indexRuns.startedAt}, now())`,
        errorCode: sql`case when ${indexRuns.status} = 'interrupted' then null else ${indexRuns.errorCode} end`,
        errorMessage: sql`case when ${indexRuns.status} = 'interrupted' then null else ${indexRuns.errorMessage} end`,
      })
      .where(and(eq(indexRuns.id, id), inArray(indexRuns.status, UNFINISHED_RUN_STATUSES)))
      .returning();
    if (row) return row;
    const run = await this.require(id);
    throw new InputError('RUN_FINISHED', `index run ${id} is already ${run.status}`, { status: 409 });
  }

  /**
   * Adds to the counters in one UPDATE (`col = col + n`), so any number of workers can report
   * into one run at once without losing counts. Timings may be fractional ms; they are rounded.
   */
  async addCounts(id: string, delta: Partial<IndexRunCounts>): Promise<IndexRun> {
    assertRunId(id, 'index run');
    const set: Partial<Record<IndexRunCounter, SQL>> = {};
    for (const key of INDEX_RUN_COUNTERS) {
      const n = delta[key];
      if (n === undefined || n === 0) continue;
      if (!Number.isFinite(n) || n < 0) {
        throw new InputError('INVALID_COUNT', `${key} must be a finite number >= 0, got ${n}`);
      }
      set[key] = sql`${indexRuns[key]} + ${Math.round(n)}`;
    }
    if (Object.keys(set).length === 0) return this.require(id);
    const [row] = await this.db.update(indexRuns).set(set).where(eq(indexRuns.id, id)).returning();
    if (!row) throw notFound(id);
    return row;
  }

  /**
   * Records the outcome. Finishing a finished run changes nothing and returns it as it is, so a
   * retried job that finishes twice is harmless and a cancellation is not overwritten.
   */
  async finish(id: string, outcome: RunOutcome): Promise<IndexRun> {
    assertRunId(id, 'index run');
    const [row] = await this.db
      .update(indexRuns)
      .set({
        status: outcome.status,
        errorCode: outcome.errorCode ?? null,
        errorMessage: outcome.errorMessage ?? null,
        finishedAt: sql`now()`,
      })
      .where(and(eq(indexRuns.id, id), isNull(indexRuns.finishedAt)))
      .returning();
    return row ?? this.require(id);
  }

  /** A running run whose process died: `interrupted`, with why, until the same run is started again. */
  async interrupt(id: string, message: string): Promise<void> {
    assertRunId(id, 'index run');
    await this.db
      .update(indexRuns)
      .set({ status: 'interrupted', errorCode: 'RUN_INTERRUPTED', errorMessage: message })
      .where(and(eq(indexRuns.id, id), eq(indexRuns.status, 'running')));
  }

  async get(id: string): Promise<IndexRun | undefined> {
    assertRunId(id, 'index run');
    const [row] = await this.db.select().from(indexRuns).where(eq(indexRuns.id, id));
    return row;
  }

  async require(id: string): Promise<IndexRun> {
    const row = await this.get(id);
    if (!row) throw notFound(id);
    return row;
  }

  /** Newest first. */
  async list(
    filter: { collectionId?: number; status?: RunStatus; limit?: number } = {},
  ): Promise<IndexRun[]> {
    return this.db
      .select()
      .from(indexRuns)
      .where(
        and(
          filter.collectionId === undefined ? undefined : eq(indexRuns.collectionId, filter.collectionId),
          filter.status === undefined ? undefined : eq(indexRuns.status, filter.status),
        ),
      )
      .orderBy(desc(indexRuns.createdAt), desc(indexRuns.id))
      .limit(filter.limit ?? 50);
  }
}

function notFound(id: string): NotFoundError {
  return new NotFoundError('INDEX_RUN_NOT_FOUND', `index run ${id} does not exist`);
}
