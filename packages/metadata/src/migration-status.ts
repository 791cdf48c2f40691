/**
 * Which of the committed migrations a database has, read without changing anything (for
 * `fever doctor`), and `migrateMetadata` that applies the rest and says what it did (for
 * `fever migrate`). drizzle's migrator records each applied migration in
 * `drizzle.__drizzle_migrations` with the journal's `when` as `created_at`, and applies every
 * journal entry newer than the newest row: the same rule is used here.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { TransientError } from '@fever/errors';
import { MIGRATIONS_FOLDER } from '@fever/schema';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import postgres from 'postgres';
import { acquireDataDirLock } from './data-dir-lock.ts';
import { migratePostgres } from './drivers/postgres.ts';
import type { MetadataOptions } from './store.ts';

export interface ShippedMigration {
  tag: string;
  /** drizzle's timestamp of the migration, in ms. */
  when: number;
}

export interface MigrationStatus {
  /** False for an embedded database that has not been created yet. */
  exists: boolean;
  /** What this fever ships (migrations/meta/_journal.json), oldest first. */
  shipped: ShippedMigration[];
  /** Rows in the database's migration table. */
  appliedCount: number;
  /** Shipped migrations the database does not have yet, oldest first. */
  pending: string[];
  /** The database holds a migration newer than any this fever ships (a newer fever migrated it). */
  newerThanCode: boolean;
  /** `server_version` of Postgres (or of PGlite's embedded Postgres). */
  serverVersion: string | undefined;
}

export function shippedMigrations(folder: string = MIGRATIONS_FOLDER): ShippedMigration[] {
  const journal = JSON.parse(readFileSync(join(folder, 'meta', '_journal.json'), 'utf8')) as {
    entries: { tag: string; when: number }[];
  };
  return journal.entries.map((e) => ({ tag: e.tag, when: e.when })).sort((a, b) => a.when - b.when);
}

/** What a query function must do: run SQL, return rows. Both drivers are adapted to it. */
type Query = <T>(text: string) => Promise<T[]>;

async function statusOver(query: Query): Promise<MigrationStatus> {
  const shipped = shippedMigrations();
  const [version] = await query<{ server_version: string }>('SHOW server_version');
  const [table] = await query<{ t: string | null }>(
    `SELECT to_regclass('drizzle.__drizzle_migrations')::text AS t`,
  );
  let appliedCount = 0;
  let last: number | undefined;
  if (table?.t) {
    const [row] = await query<{ n: string | number; last: string | number | null }>(
      'SELECT count(*) AS n, max(created_at) AS last FROM drizzle.__drizzle_migrations',
    );
    appliedCount = Number(row?.n ?? 0);
    last = row?.last === null || row?.last === undefined ? undefined : Number(row.last);
  }
  const pending = shipped.filter((m) => last === undefined || m.when > last).map((m) => m.tag);
  const newest = shipped.at(-1)?.when ?? 0;
  return {
    exists: true,
    shipped,
    appliedCount,
    pending,
    newerThanCode: last !== undefined && last > newest,
    serverVersion: version?.server_version,
  };
}

/**
 * Reads the migration state of the database `options` names, changing nothing. An embedded
 * database that another process has open cannot be read (METADATA_LOCKED); one that does not
 * exist yet reports `exists: false` with every migration pending.
 */
export async function readMigrationStatus(options: MetadataOptions): Promise<MigrationStatus> {
  if (options.driver === 'postgres') {
    const client = postgres(options.url, { max: 1, connect_timeout: 5, onnotice: () => {} });
    try {
      return await statusOver((text) => client.unsafe(text) as never);
    } catch (err) {
      throw describeConnectionError(err, options.url);
    } finally {
      await client.end({ timeout: 2 }).catch(() => {});
    }
  }
  if (!existsSync(options.dataDir)) {
    const shipped = shippedMigrations();
    return {
      exists: false,
      shipped,
      appliedCount: 0,
      pending: shipped.map((m) => m.tag),
      newerThanCode: false,
      serverVersion: undefined,
    };
  }
  return withPglite(options.dataDir, (client) => statusOver(pgliteQuery(client)));
}

export interface MigrateResult {
  /** Tags applied by this call, oldest first (empty when the database was up to date). */
  applied: string[];
  status: MigrationStatus;
}

/** Applies the pending migrations (what every fever process also does on open) and reports. */
export async function migrateMetadata(options: MetadataOptions): Promise<MigrateResult> {
  let before: MigrationStatus;
  let status: MigrationStatus;
  if (options.driver === 'postgres') {
    before = await readMigrationStatus(options);
    // Under the advisory lock that keeps two starting processes from migrating at once.
    await migratePostgres(options);
    status = await readMigrationStatus(options);
  } else {
    // One open of the embedded database (each costs seconds), under its directory lock.
    mkdirSync(dirname(options.dataDir), { recursive: true });
    [before, status] = await withPglite(options.dataDir, async (client) => {
      const query = pgliteQuery(client);
      const first = await statusOver(query);
      await migrate(drizzle({ client }), { migrationsFolder: MIGRATIONS_FOLDER });
      return [first, await statusOver(query)] as const;
    });
  }
  const applied = before.pending.filter((tag) => !status.pending.includes(tag));
  return { applied, status };
}

async function withPglite<T>(dataDir: string, use: (client: PGlite) => Promise<T>): Promise<T> {
  const lock = acquireDataDirLock(`${dataDir}.lock`, `The embedded database ${dataDir}`);
  let client: PGlite | undefined;
  try {
    client = await PGlite.create(dataDir);
    return await use(client);
  } finally {
    await client?.close().catch(() => {});
    lock.release();
  }
}

function pgliteQuery(client: PGlite): Query {
  return async (text) => (await client.query(text)).rows as never;
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'CONNECT_TIMEOUT',
]);

/** Names the server that could not be reached, never echoing the password in the URL. */
function describeConnectionError(err: unknown, url: string): unknown {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) {
    const u = new URL(url);
    return new TransientError(
      'METADATA_UNAVAILABLE',
      `cannot connect to Postgres at ${u.hostname}:${u.port || 5432}${u.pathname} (${code})`,
      { cause: err },
    );
  }
  return err;
}
