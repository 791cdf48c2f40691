import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { TransientError } from '@fever/errors';

export interface DataDirLock {
  release(): void;
}

/**
 * PGlite is one Postgres inside this process: a second process opening the same directory would
 * corrupt it. A lock file (O_EXCL create) turns that into a clear error. A lock left by a process
 * that no longer exists on this host is taken over.
 */
export function acquireDataDirLock(lockPath: string, what: string): DataDirLock {
  const owner = `${process.pid}@${hostname()}`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockPath, owner, { flag: 'wx' });
      return {
        release() {
          try {
            if (readFileSync(lockPath, 'utf8') === owner) unlinkSync(lockPath);
          } catch {
            // Already gone: nothing to release.
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readHolder(lockPath);
      if (holder && isAlive(holder)) {
        throw new TransientError(
          'METADATA_LOCKED',
          `${what} is in use by process ${holder.pid} on ${holder.host} (lock ${lockPath}). ` +
            'The embedded database serves one process at a time: stop the other process, ' +
            'or set DATABASE_URL to share a Postgres server.',
        );
      }
      // Stale (its process is gone) or unreadable: remove and try once more.
      try {
        unlinkSync(lockPath);
      } catch {
        // Another process may have removed it first; the retry settles who wins.
      }
    }
  }
  throw new TransientError('METADATA_LOCKED', `could not take the lock ${lockPath} for ${what}`);
}

function readHolder(lockPath: string): { pid: number; host: string } | undefined {
  try {
    const [pid, host] = readFileSync(lockPath, 'utf8').split('@');
    const n = Number(pid);
    return Number.isSafeInteger(n) && n > 0 && host ? { pid: n, host } : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(holder: { pid: number; host: string }): boolean {
  // Another host's process cannot be checked: assume it is alive rather than risk corruption.
  if (holder.host !== hostname()) return true;
  if (holder.pid === process.pid) return true;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
