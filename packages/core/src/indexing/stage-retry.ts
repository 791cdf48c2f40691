import type { Runtime } from '../runtime.ts';
import { describeError, type RetryOptions } from './retry.ts';
import type { RunInfo } from './run.ts';

/**
 * How a stage of `run` retries a dependency that is down: each retry is logged, and shown on the
 * run (`fever run <id>`) until the next recorded batch clears it.
 */
export function stageRetry(runtime: Runtime, run: RunInfo, what: string, signal?: AbortSignal): RetryOptions {
  return {
    signal,
    onRetry: (err, attempt, delayMs) => {
      const { code, message } = describeError(err);
      runtime.logger.warn(
        { runId: run.id, stage: what, attempt, delayMs: Math.round(delayMs), code },
        `${what}: ${message}; retrying`,
      );
      void runtime.metadata.indexing
        .noteError(run.id, { code, message: `${what}: ${message} (retrying)` })
        .catch(() => {});
    },
  };
}
