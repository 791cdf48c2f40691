import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { TransientError } from '@fever/errors';

/**
 * The embedded store lives in one process's memory and writes its files without coordination: a
 * second process on the same directory would corrupt it. An O_EXCL lock file turns that into a
 * clear error; a lock left by a process that no longer exists on this host is taken over.
 */
export function acquireLock(lockPath: string, dir: string): () => void {
  const owner = `${process.pid}@${hostname()}`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockPath, owner, { flag: 'wx' });
      return () => {
        try {
          if (readFileSync(lockPath, 'utf8') === owner) unlinkSync(lockPath);
        } catch {
          // Already gone.
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readFileSync(lockPath, 'utf8');
      if (holder === owner || isAlive(holder)) {
        throw new TransientError(
          'VECTORS_LOCKED',
          `the embedded vector store ${dir} is in use by ${holder === owner ? 'this process' : `process ${holder}`}: ` +
            'one process at a time may open it (set QDRANT_URL to share vectors between processes)',
        );
      }
      try {
        unlinkSync(lockPath);
      } catch {
        // Someone else removed it first; the next attempt settles who wins.
      }
    }
  }
  throw new TransientError('VECTORS_LOCKED', `could not take the lock ${lockPath}`);
}

function isAlive(holder: string): boolean {
  const [pid, host] = holder.split('@');
  const n = Number(pid);
  if (!Number.isSafeInteger(n) || n <= 0 || !host) return false;
  // Another host's process cannot be checked: assume it lives rather than risk corruption.
  if (host !== hostname()) return true;
  try {
    process.kill(n, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
