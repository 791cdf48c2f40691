/**
 * What a killed process leaves behind, set right when a fever process opens its stores, before
 * anything reads them: collection deletes it began are finished, and the runs it was running
 * in-process are marked as such (an index run `interrupted`, resumed when the same run is
 * started again; an eval run `failed`, as it cannot resume).
 *
 * Whose runs are dead: with the embedded database every one (only one process can open it);
 * with Postgres, those whose runner (`pid@host`, recorded when it started them) is a process of
 * this host that no longer exists. A runner on another host cannot be checked from here.
 */
import { isTagAlive } from '@fever/files';
import type { MetadataStore } from '@fever/metadata';
import type { RuntimeMode } from '@fever/schema';
import type { VectorStore } from '@fever/vectors';
import { finishInterruptedDeletes } from './collection-delete.ts';
import type { Logger } from './logger.ts';

export interface RecoveryParts {
  metadata: MetadataStore;
  /** Without the vector store (held by another process), deletes are left to the holder. */
  vectors: VectorStore | undefined;
  logger: Logger;
  mode: RuntimeMode;
}

export async function recoverInterrupted(parts: RecoveryParts): Promise<void> {
  const { metadata, vectors, logger, mode } = parts;
  if (vectors) await finishInterruptedDeletes({ metadata, vectors, logger });
  const dead = (runner: unknown) =>
    mode.metadata === 'pglite' || (typeof runner === 'string' && !isTagAlive(runner));

  for (const run of await metadata.indexRuns.list({ status: 'running', limit: 10_000 })) {
    const params = run.params as { queue?: string; runner?: string };
    if (params.queue !== 'inprocess' || !dead(params.runner)) continue;
    await metadata.indexRuns.interrupt(
      run.id,
      `the process that ran it${params.runner ? ` (${params.runner})` : ''} stopped; start the same run again to resume it`,
    );
    logger.warn({ runId: run.id, runner: params.runner }, 'index run interrupted: its process stopped');
  }
  for (const status of ['queued', 'running'] as const) {
    for (const run of await metadata.evalRuns.list({ status, limit: 10_000 })) {
      const { runner } = run.params as { runner?: string };
      if (!dead(runner)) continue;
      await metadata.evalRuns.update(run.id, {
        status: 'failed',
        errorCode: 'EVAL_INTERRUPTED',
        errorMessage: 'the process that ran it stopped before it finished; start it again',
      });
      logger.warn({ evalRunId: run.id, runner }, 'eval run failed: its process stopped');
    }
  }
}
