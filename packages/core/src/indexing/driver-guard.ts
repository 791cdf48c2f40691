import type { Logger } from '../logger.ts';

/**
 * postgres.js 3.4.9 (the latest release) can throw from a timer when Postgres drops a
 * connection while a write is pending: `TypeError: Cannot read properties of null (reading
 * 'write')` in connection.js nextWrite (porsager/postgres#1154, #1208; fixes proposed, none
 * released). Nothing can catch it, and the connection object it leaves behind cannot be trusted,
 * so the process must end. Indexing is built for that: a restarted worker or the same
 * `fever index` command finishes the run exactly once. This explains the crash in the log.
 */
export function isPostgresWriteCrash(err: unknown): boolean {
  return (
    err instanceof TypeError &&
    err.message.includes("reading 'write'") &&
    /postgres[\\/](cjs[\\/])?src[\\/]connection\.js/.test(err.stack ?? '') &&
    (err.stack ?? '').includes('nextWrite')
  );
}

/** Logs what the postgres.js crash means before Node ends the process (the exit is unchanged). */
export function explainDriverCrashes(logger: Logger, resume: string): () => void {
  const monitor = (err: Error) => {
    if (!isPostgresWriteCrash(err)) return;
    logger.fatal(
      { err: err.message, code: 'METADATA_CONNECTION_LOST' },
      `the Postgres driver crashed after a dropped connection (postgres.js bug #1154); ${resume}`,
    );
  };
  process.on('uncaughtExceptionMonitor', monitor);
  return () => process.off('uncaughtExceptionMonitor', monitor);
}
