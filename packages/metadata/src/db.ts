import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';

/** What both drivers give the repositories: a drizzle Postgres database (no relational schema). */
export type Db = PgDatabase<PgQueryResultHKT>;

export type MetadataDriver = 'postgres' | 'pglite';

/** An open, migrated database and how to close it. */
export interface OpenDatabase {
  driver: MetadataDriver;
  db: Db;
  close(): Promise<void>;
}
