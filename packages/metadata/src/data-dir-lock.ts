import { TransientError } from '@fever/errors';
import { acquireProcessLock, type HeldLock } from '@fever/files';

export type DataDirLock = HeldLock;

/**
 * PGlite is one Postgres inside this process: a second process opening the same directory would
 * corrupt it. The lock turns that into a clear error; one left by a killed process is taken over.
 */
export function acquireDataDirLock(lockPath: string, what: string): DataDirLock {
  return acquireProcessLock(
    lockPath,
    (holder) =>
      new TransientError(
        'METADATA_LOCKED',
        `${what} is in use by ${holder ? `process ${holder.pid} on ${holder.host}` : 'another process'} (lock ${lockPath}). ` +
          'The embedded database serves one process at a time: stop the other process, ' +
          'or set DATABASE_URL to share a Postgres server.',
      ),
  );
}
