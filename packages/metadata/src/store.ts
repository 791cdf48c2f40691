import { join } from 'node:path';
import type { Config } from '@fever/schema';
import { sql } from 'drizzle-orm';
import type { MetadataDriver, OpenDatabase } from './db.ts';
import { openPglite } from './drivers/pglite.ts';
import { openPostgres } from './drivers/postgres.ts';
import { CollectionsRepository } from './repositories/collections.ts';
import { EvalRunsRepository } from './repositories/eval-runs.ts';
import { FacesRepository } from './repositories/faces.ts';
import { IdentitiesRepository } from './repositories/identities.ts';
import { ImagesRepository } from './repositories/images.ts';
import { IndexRunsRepository } from './repositories/index-runs.ts';
import { IndexingRepository } from './repositories/indexing.ts';
import { ModelsRepository } from './repositories/models.ts';
import { PeopleRepository } from './repositories/people.ts';

export type MetadataOptions =
  | { driver: 'postgres'; url: string; poolSize?: number; migrationLockTimeoutMs?: number }
  | { driver: 'pglite'; dataDir: string };

export interface MetadataStore {
  readonly driver: MetadataDriver;
  readonly collections: CollectionsRepository;
  readonly images: ImagesRepository;
  readonly faces: FacesRepository;
  /** Identity descriptors of faces (people, person-aware search). */
  readonly identities: IdentitiesRepository;
  /** People: clusters of a collection's faces by identity, with their names. */
  readonly people: PeopleRepository;
  readonly models: ModelsRepository;
  readonly indexRuns: IndexRunsRepository;
  readonly evalRuns: EvalRunsRepository;
  /** The indexer's ledger, embedded markers and batch transaction. */
  readonly indexing: IndexingRepository;
  /** One round trip to the database, for health checks. */
  ping(): Promise<void>;
  /** Closes connections (and, for PGlite, flushes and unlocks the directory). Safe to call twice. */
  close(): Promise<void>;
}

/** Postgres when DATABASE_URL is set, else PGlite in `<FEVER_DATA_DIR>/metadata`. */
export function metadataOptionsFromConfig(config: Config): MetadataOptions {
  return config.databaseUrl
    ? { driver: 'postgres', url: config.databaseUrl }
    : { driver: 'pglite', dataDir: join(config.dataDir, 'metadata') };
}

/** Opens the database and brings its schema up to date (migrations run on every open). */
export async function openMetadataStore(options: MetadataOptions): Promise<MetadataStore> {
  const opened: OpenDatabase =
    options.driver === 'postgres' ? await openPostgres(options) : await openPglite(options);
  const { db } = opened;
  let closing: Promise<void> | undefined;
  return {
    driver: opened.driver,
    collections: new CollectionsRepository(db),
    images: new ImagesRepository(db),
    faces: new FacesRepository(db),
    identities: new IdentitiesRepository(db),
    people: new PeopleRepository(db),
    models: new ModelsRepository(db),
    indexRuns: new IndexRunsRepository(db),
    evalRuns: new EvalRunsRepository(db),
    indexing: new IndexingRepository(db),
    async ping() {
      await db.execute(sql`SELECT 1`);
    },
    close() {
      closing ??= opened.close();
      return closing;
    },
  };
}
