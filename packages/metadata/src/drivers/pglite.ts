import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { MIGRATIONS_FOLDER } from '@fever/schema';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import { acquireDataDirLock } from '../data-dir-lock.ts';
import type { OpenDatabase } from '../db.ts';

export interface PgliteOptions {
  /** The PGlite cluster directory; created on first open. */
  dataDir: string;
}

/**
 * Opens (creating if needed) an embedded Postgres on disk and applies pending migrations. Only
 * this process may use the directory while it is open (see acquireDataDirLock).
 */
export async function openPglite(options: PgliteOptions): Promise<OpenDatabase> {
  mkdirSync(dirname(options.dataDir), { recursive: true });
  const lock = acquireDataDirLock(`${options.dataDir}.lock`, `The embedded database ${options.dataDir}`);
  let client: PGlite | undefined;
  try {
    client = await PGlite.create(options.dataDir);
    const db = drizzle({ client });
    await migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
    const opened = client;
    return {
      driver: 'pglite',
      db,
      async close() {
        try {
          if (!opened.closed) await opened.close();
        } finally {
          lock.release();
        }
      },
    };
  } catch (err) {
    await client?.close().catch(() => {});
    lock.release();
    throw err;
  }
}
