import { TransientError } from '@fever/errors';
import { MIGRATIONS_FOLDER } from '@fever/schema';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import type { OpenDatabase } from '../db.ts';

/** pg_advisory_lock key held while migrating ("fever" in ASCII). Advisory locks are per database. */
const MIGRATION_LOCK_KEY = 0x6665766572;

export interface PostgresOptions {
  url: string;
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** How long to wait for another process's migration to finish (default 60 s). */
  migrationLockTimeoutMs?: number;
}

export async function openPostgres(options: PostgresOptions): Promise<OpenDatabase> {
  await migratePostgres(options);
  const client = postgres(options.url, {
    max: options.poolSize ?? 10,
    onnotice: () => {},
  });
  return {
    driver: 'postgres',
    db: drizzle({ client }),
    close: () => client.end({ timeout: 5 }),
  };
}

/**
 * Applies pending migrations over one dedicated connection, holding an advisory lock so two
 * processes starting together do not both apply them (drizzle's migrator reads the applied
 * list outside its transaction). The lock dies with the connection if this process does.
 */
export async function migratePostgres(options: PostgresOptions): Promise<void> {
  // NOTICEs ("schema already exists, skipping") are expected on every start after the first.
  const client = postgres(options.url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await acquireMigrationLock(client, options.migrationLockTimeoutMs ?? 60_000);
    try {
      await migrate(drizzle({ client }), { migrationsFolder: MIGRATIONS_FOLDER });
    } finally {
      await client`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY}::bigint)`;
    }
  } catch (err) {
    throw asConnectionError(err, options.url);
  } finally {
    await client.end({ timeout: 5 });
  }
}

async function acquireMigrationLock(client: postgres.Sql, timeoutMs: number): Promise<void> {
  // Polling pg_try_advisory_lock (rather than blocking) bounds the wait on a stuck migrator.
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await client<[{ locked: boolean }]>`
      SELECT pg_try_advisory_lock(${MIGRATION_LOCK_KEY}::bigint) AS locked`;
    if (row?.locked) return;
    if (Date.now() > deadline) {
      throw new TransientError(
        'MIGRATION_LOCK_TIMEOUT',
        `another process has been migrating the metadata database for over ${timeoutMs} ms`,
      );
    }
    await new Promise((r) => setTimeout(r, 100 + Math.random() * 100));
  }
}

const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN']);

/** Says which server could not be reached, without echoing credentials from the URL. */
function asConnectionError(err: unknown, url: string): unknown {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (CONNECTION_ERRORS.has(code) || code === 'CONNECT_TIMEOUT')) {
    const u = new URL(url);
    return new TransientError(
      'METADATA_UNAVAILABLE',
      `cannot connect to Postgres at ${u.hostname}:${u.port || 5432}${u.pathname} (${code})`,
      { cause: err },
    );
  }
  return err;
}
