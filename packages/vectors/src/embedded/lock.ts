import { TransientError } from '@fever/errors';
import { acquireProcessLock } from '@fever/files';

/**
 * The embedded store lives in one process's memory and writes its files without coordination: a
 * second process on the same directory would corrupt it. The lock turns that into a clear error;
 * one left by a killed process is taken over.
 */
export function acquireLock(lockPath: string, dir: string): () => void {
  const lock = acquireProcessLock(lockPath, (holder) => {
    const who = !holder
      ? 'another process'
      : holder.self
        ? 'this process'
        : `process ${holder.pid}@${holder.host}`;
    return new TransientError(
      'VECTORS_LOCKED',
      `the embedded vector store ${dir} is in use by ${who}: ` +
        'one process at a time may open it (set QDRANT_URL to share vectors between processes)',
    );
  });
  return () => lock.release();
}
