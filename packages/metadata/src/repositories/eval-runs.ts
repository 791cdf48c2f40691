import { InputError, NotFoundError } from '@fever/errors';
import { type EvalRunRow, evalRuns, type RunStatus } from '@fever/schema';
import { and, desc, eq, sql } from 'drizzle-orm';
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core';
import type { Db } from '../db.ts';
import { FOREIGN_KEY_VIOLATION, sqlState } from '../pg-errors.ts';
import { assertRunId, isFinished } from './run-status.ts';

export type EvalRun = EvalRunRow;

export interface NewEvalRun {
  modelId: string;
  modelVersion: string;
  params?: Record<string, unknown>;
  status?: 'queued' | 'running';
}

export interface EvalRunUpdate {
  status?: RunStatus;
  metrics?: Record<string, unknown> | null;
  report?: Record<string, unknown> | null;
  errorCode?: string | null;
  errorMessage?: string | null;
}

export class EvalRunsRepository {
  constructor(private readonly db: Db) {}

  async create(input: NewEvalRun): Promise<EvalRun> {
    const status = input.status ?? 'queued';
    try {
      const [row] = await this.db
        .insert(evalRuns)
        .values({
          modelId: input.modelId,
          modelVersion: input.modelVersion,
          params: input.params ?? {},
          status,
          startedAt: status === 'running' ? sql`now()` : null,
        })
        .returning();
      return row!;
    } catch (err) {
      if (sqlState(err) === FOREIGN_KEY_VIOLATION) {
        throw new NotFoundError(
          'MODEL_NOT_FOUND',
          `model ${input.modelId}@${input.modelVersion} is not registered`,
        );
      }
      throw err;
    }
  }

  /**
   * Changes the given fields. Moving to `running` stamps startedAt, to a finished status stamps
   * finishedAt. A finished run keeps its status (InputError `run_finished`, 409 otherwise) but
   * may still receive its metrics and report.
   */
  async update(id: string, patch: EvalRunUpdate): Promise<EvalRun> {
    assertRunId(id, 'eval run');
    return this.db.transaction(async (tx) => {
      // FOR UPDATE: two concurrent updates see each other's status change.
      const [current] = await tx.select().from(evalRuns).where(eq(evalRuns.id, id)).for('update');
      if (!current) throw notFound(id);
      const next = patch.status;
      if (next !== undefined && next !== current.status && isFinished(current.status)) {
        throw new InputError('RUN_FINISHED', `eval run ${id} is already ${current.status}`, { status: 409 });
      }
      const set: PgUpdateSetSource<typeof evalRuns> = {};
      if (next !== undefined) set.status = next;
      if (next === 'running' && current.startedAt === null) set.startedAt = sql`now()`;
      if (next !== undefined && isFinished(next) && current.finishedAt === null) set.finishedAt = sql`now()`;
      if (patch.metrics !== undefined) set.metrics = patch.metrics;
      if (patch.report !== undefined) set.report = patch.report;
      if (patch.errorCode !== undefined) set.errorCode = patch.errorCode;
      if (patch.errorMessage !== undefined) set.errorMessage = patch.errorMessage;
      if (Object.keys(set).length === 0) return current;
      const [row] = await tx.update(evalRuns).set(set).where(eq(evalRuns.id, id)).returning();
      return row!;
    });
  }

  async get(id: string): Promise<EvalRun | undefined> {
    assertRunId(id, 'eval run');
    const [row] = await this.db.select().from(evalRuns).where(eq(evalRuns.id, id));
    return row;
  }

  /** Newest first. */
  async list(
    filter: { modelId?: string; modelVersion?: string; status?: RunStatus; limit?: number } = {},
  ): Promise<EvalRun[]> {
    return this.db
      .select()
      .from(evalRuns)
      .where(
        and(
          filter.modelId === undefined ? undefined : eq(evalRuns.modelId, filter.modelId),
          filter.modelVersion === undefined ? undefined : eq(evalRuns.modelVersion, filter.modelVersion),
          filter.status === undefined ? undefined : eq(evalRuns.status, filter.status),
        ),
      )
      .orderBy(desc(evalRuns.createdAt), desc(evalRuns.id))
      .limit(filter.limit ?? 50);
  }
}

function notFound(id: string): NotFoundError {
  return new NotFoundError('EVAL_RUN_NOT_FOUND', `eval run ${id} does not exist`);
}
