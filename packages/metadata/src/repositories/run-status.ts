import { InputError } from '@fever/errors';
import { FINISHED_RUN_STATUSES, type FinishedRunStatus, isUuid, type RunStatus } from '@fever/schema';

export function isFinished(status: RunStatus): status is FinishedRunStatus {
  return (FINISHED_RUN_STATUSES as readonly string[]).includes(status);
}

/** Run ids are UUIDs; anything else can name no run (and would be a type error in SQL). */
export function assertRunId(id: string, kind: string): void {
  if (!isUuid(id)) throw new InputError('INVALID_RUN_ID', `${kind} id is not a UUID: '${id}'`);
}
