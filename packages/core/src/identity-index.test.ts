/**
 * Identity descriptors at index time: a collection stores one per face by default, none when it
 * was created without them, on the embedded store and on Postgres alike.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { samplePhotos } from '@fever/encoder/testing';
import { createTestDatabase, findTestPostgres, type TestDatabase } from '@fever/metadata/testing';
import { parseConfig } from '@fever/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CollectionService } from './collections.ts';
import { startIndexRun, waitForRun } from './indexing/index.ts';
import { createLogger } from './logger.ts';
import { openRuntime, type ServingRuntime } from './runtime.ts';

const pg = await findTestPostgres();
if (pg.url === undefined) {
  if (process.env.CI) throw new Error(`no test Postgres, and CI is set: ${pg.reason}`);
  console.warn(`SKIPPED: the Postgres half needs a test Postgres (${pg.reason})`);
}

let root: string;
let photos: string;
let db: TestDatabase | undefined;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fever-identity-'));
  photos = join(root, 'photos');
  await mkdir(photos);
  for (const [i, photo] of samplePhotos().slice(0, 3).entries()) {
    await writeFile(join(photos, `${i}.jpg`), await readFile(photo));
  }
  if (pg.url) db = await createTestDatabase(pg.url);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await db?.drop();
});

const modes = [
  { name: 'embedded', env: {} as Record<string, string> },
  ...(pg.url ? [{ name: 'postgres', env: { DATABASE_URL: '' } }] : []),
];

describe.each(modes)('identity descriptors at index time ($name)', ({ name }) => {
  let runtime: ServingRuntime;
  beforeAll(async () => {
    const dataDir = join(root, name);
    runtime = await openRuntime(
      parseConfig({
        FEVER_DATA_DIR: dataDir,
        FEVER_DEVICE: 'cpu',
        FEVER_LOG_LEVEL: 'silent',
        ...(name === 'postgres' ? { DATABASE_URL: db!.url } : {}),
      }),
      { logger: createLogger('silent') },
    );
  }, 60_000);
  afterAll(() => runtime?.close());

  it('stores one unit 128-d descriptor per face by default, and none for a collection made without them', async () => {
    for (const [collection, identity] of [
      ['with', undefined],
      ['without', false],
    ] as const) {
      const { runId } = await startIndexRun(runtime, {
        source: photos,
        collection,
        ...(identity === undefined ? {} : { identity }),
      });
      const run = await waitForRun(runtime, runId, { intervalMs: 100 });
      expect(run.status).toBe('succeeded');
    }
    const service = new CollectionService(runtime);
    const withIds = await service.detail('with');
    const without = await service.detail('without');
    expect(withIds.faces).toBeGreaterThan(5);
    expect(withIds.collection.identityDescriptors).toBe(true);
    expect(withIds.facesWithIdentity).toBe(withIds.faces);
    expect(without.faces).toBe(withIds.faces);
    expect(without.collection.identityDescriptors).toBe(false);
    expect(without.facesWithIdentity).toBe(0);

    const model = await runtime.model();
    const stored = await runtime.metadata.identities.list(withIds.collection.id, {
      modelId: model.id,
      modelVersion: model.version,
    });
    expect(stored).toHaveLength(withIds.faces);
    for (const s of stored) {
      expect(s.model).toMatch(/^face-api-recognition@/);
      expect(s.descriptor).toHaveLength(128);
      expect(Math.abs(Math.hypot(...s.descriptor) - 1)).toBeLessThan(1e-4);
    }
    // Different faces of different photos have different descriptors.
    expect(new Set(stored.map((s) => s.descriptor.slice(0, 4).join())).size).toBe(stored.length);
  }, 180_000);

  it('refuses to index an existing collection the other way (409), and deleting it takes its descriptors', async () => {
    await expect(
      startIndexRun(runtime, { source: photos, collection: 'with', identity: false }),
    ).rejects.toMatchObject({ code: 'COLLECTION_IDENTITY_MISMATCH', status: 409 });
    const service = new CollectionService(runtime);
    const { collection } = await service.detail('with');
    await service.delete('with');
    expect(await runtime.metadata.identities.count(collection.id)).toBe(0);
  }, 60_000);
});
