/**
 * One contract, two drivers: every test in metadataContract() runs against real Postgres (a fresh
 * database per run) and against PGlite on disk (a fresh temp dir per run).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { FeverError } from '@fever/errors';
import { facePointId, MIGRATIONS_FOLDER } from '@fever/schema';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetadataStore, NewFace } from './index.ts';
import { openMetadataStore } from './index.ts';
import { createTestDatabase, findTestPostgres, type TestDatabase } from './testing.ts';

const JOURNAL_ENTRIES: number = JSON.parse(
  readFileSync(join(MIGRATIONS_FOLDER, 'meta/_journal.json'), 'utf8'),
).entries.length;

interface Harness {
  /** Opens a store on this suite's database (migrating it). */
  open(): Promise<MetadataStore>;
  /** Rows in drizzle's migrations table. For PGlite, call it with every store closed. */
  appliedMigrations(): Promise<number>;
}

const MIGRATIONS_COUNT_SQL = 'SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations';

async function expectFeverError(promise: Promise<unknown>, code: string): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected FeverError ${code}`).toBeInstanceOf(FeverError);
  expect((err as FeverError).code).toBe(code);
}

const sha = () => randomBytes(32).toString('hex');
const uniqueName = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;
const MODEL = { id: 'test-expression', version: '1.0.0' };
const LABELS = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'];

function makeFaces(collectionId: number, imageId: number, imageSha256: string, n: number): NewFace[] {
  return Array.from({ length: n }, (_, faceIndex) => ({
    id: facePointId({ collectionId, imageSha256, faceIndex, modelId: MODEL.id, modelVersion: MODEL.version }),
    imageId,
    collectionId,
    faceIndex,
    box: { x: 10 * faceIndex, y: 5, width: 40.5, height: 48 },
    detectionScore: 0.9,
    probs: [0.1, 0.6, 0.05, 0.05, 0.05, 0.05, 0.1],
    label: 'happy',
    modelId: MODEL.id,
    modelVersion: MODEL.version,
  }));
}

function metadataContract(harness: () => Harness) {
  let store: MetadataStore;
  beforeAll(async () => {
    store = await harness().open();
    await store.models.register({ ...MODEL, dims: 256, labels: LABELS });
  });
  afterAll(async () => {
    await store?.close();
  });

  /** A collection with one image, for tests that need somewhere to put faces. */
  async function seedImage() {
    const collection = await store.collections.create({ name: uniqueName('c') });
    const { image } = await store.images.upsert({
      collectionId: collection.id,
      sha256: sha(),
      uri: 'a.jpg',
      sizeBytes: 1234,
    });
    return { collection, image };
  }

  it('migrating again on open is a no-op and keeps the data', async () => {
    const name = uniqueName('persist');
    await store.collections.create({ name, description: 'kept' });
    await store.close();
    store = await harness().open();
    await store.close();
    expect(await harness().appliedMigrations()).toBe(JOURNAL_ENTRIES);
    store = await harness().open();
    expect((await store.collections.get(name))?.description).toBe('kept');
    await store.ping();
  });

  it('creates, finds, lists and deletes collections', async () => {
    const name = uniqueName('col');
    const created = await store.collections.create({ name });
    expect(created).toMatchObject({ name, description: null });
    expect(created.createdAt).toBeInstanceOf(Date);
    expect(await store.collections.get(name)).toEqual(created);
    expect(await store.collections.getById(created.id)).toEqual(created);
    expect((await store.collections.list()).map((c) => c.name)).toContain(name);
    await expectFeverError(store.collections.create({ name }), 'COLLECTION_EXISTS');
    await expectFeverError(store.collections.create({ name: 'Bad Name!' }), 'INVALID_COLLECTION_NAME');
    expect(await store.collections.delete(name)).toBe(true);
    expect(await store.collections.delete(name)).toBe(false);
    await expectFeverError(store.collections.require(name), 'COLLECTION_NOT_FOUND');
  });

  it('upserts images by content within a collection and tracks their status', async () => {
    const collection = await store.collections.create({ name: uniqueName('img') });
    const digest = sha();
    const first = await store.images.upsert({
      collectionId: collection.id,
      sha256: digest,
      uri: 'a.jpg',
      sizeBytes: 10,
    });
    expect(first.created).toBe(true);
    expect(first.image).toMatchObject({ sha256: digest, uri: 'a.jpg', status: 'pending', sizeBytes: 10 });
    const again = await store.images.upsert({
      collectionId: collection.id,
      sha256: digest,
      uri: 'b.jpg',
      sizeBytes: 10,
    });
    expect(again.created).toBe(false);
    expect(again.image.id).toBe(first.image.id);
    expect(again.image.uri).toBe('b.jpg');
    expect(await store.images.getBySha256(collection.id, digest)).toEqual(again.image);

    const failed = await store.images.setStatus(first.image.id, {
      status: 'failed',
      errorCode: 'image_decode_failed',
      errorMessage: 'truncated JPEG',
    });
    expect(failed).toMatchObject({ status: 'failed', errorCode: 'image_decode_failed' });
    const other = await store.images.upsert({
      collectionId: collection.id,
      sha256: sha(),
      uri: 'c.jpg',
      sizeBytes: 1,
    });
    await store.images.setStatus(other.image.id, {
      status: 'failed',
      errorCode: 'too_big',
      errorMessage: 'x',
    });
    const page1 = await store.images.listFailures(collection.id, { limit: 1 });
    const page2 = await store.images.listFailures(collection.id, { limit: 1, afterId: page1[0]!.id });
    expect([...page1, ...page2].map((i) => i.id)).toEqual([first.image.id, other.image.id]);

    const indexed = await store.images.setStatus(first.image.id, {
      status: 'indexed',
      width: 640,
      height: 480,
      faceCount: 2,
    });
    expect(indexed).toMatchObject({
      status: 'indexed',
      width: 640,
      faceCount: 2,
      errorCode: null,
      errorMessage: null,
    });
    expect(await store.images.countByStatus(collection.id)).toEqual({ pending: 0, indexed: 1, failed: 1 });
    expect((await store.images.getByIds([first.image.id, other.image.id, 999_999_999])).length).toBe(2);

    await expectFeverError(store.images.setStatus(999_999_999, { status: 'pending' }), 'IMAGE_NOT_FOUND');
    await expectFeverError(
      store.images.upsert({ collectionId: 999_999_999, sha256: sha(), uri: 'x', sizeBytes: 1 }),
      'COLLECTION_NOT_FOUND',
    );
    await expectFeverError(
      store.images.upsert({ collectionId: collection.id, sha256: 'ABC', uri: 'x', sizeBytes: 1 }),
      'INVALID_SHA256',
    );
  });

  it('inserts faces idempotently by their deterministic id', async () => {
    const { collection, image } = await seedImage();
    const faces = makeFaces(collection.id, image.id, image.sha256, 3);
    expect(await store.faces.insertMany(faces)).toBe(3);
    expect(await store.faces.insertMany(faces)).toBe(0);
    // A retried job recomputes the same ids, so even a fresh batch object writes nothing new.
    expect(await store.faces.insertMany(makeFaces(collection.id, image.id, image.sha256, 3))).toBe(0);
    expect(await store.faces.count({ collectionId: collection.id })).toBe(3);
    expect(
      await store.faces.count({ collectionId: collection.id, modelId: MODEL.id, modelVersion: 'other' }),
    ).toBe(0);

    const relabelled = faces.map((f) => ({ ...f, label: 'sad' }));
    expect(await store.faces.insertMany(relabelled, { onConflict: 'update' })).toBe(3);
    const stored = await store.faces.listByImage(image.id);
    expect(stored.map((f) => [f.faceIndex, f.label])).toEqual([
      [0, 'sad'],
      [1, 'sad'],
      [2, 'sad'],
    ]);
    expect(stored[1]!.box).toEqual({ x: 10, y: 5, width: 40.5, height: 48 });
    expect(stored[1]!.probs[1]).toBeCloseTo(0.6, 6);

    const ids = [faces[2]!.id, randomUUID(), faces[0]!.id];
    expect((await store.faces.getByIds(ids)).map((f) => f.faceIndex)).toEqual([2, 0]);
    await expectFeverError(store.faces.getByIds(['not-a-uuid']), 'INVALID_FACE_ID');

    // A face must belong to its image's collection.
    const elsewhere = await store.collections.create({ name: uniqueName('other') });
    const [wrongCollection] = makeFaces(elsewhere.id, image.id, image.sha256, 4).slice(3);
    await expectFeverError(store.faces.insertMany([wrongCollection!]), 'FACE_REFERENCE_MISSING');
    // A second id for the same face (image, index, model) means the id was not made by facePointId().
    await expectFeverError(store.faces.insertMany([{ ...faces[0]!, id: randomUUID() }]), 'FACE_ID_MISMATCH');

    expect(
      (await store.faces.deleteByImage(image.id, { modelId: MODEL.id, modelVersion: MODEL.version })).sort(),
    ).toEqual(faces.map((f) => f.id).sort());
    expect(await store.faces.count({ collectionId: collection.id })).toBe(0);
  });

  it('writes large face batches in chunks, all in one transaction', async () => {
    const { collection, image } = await seedImage();
    const faces = makeFaces(collection.id, image.id, image.sha256, 2500);
    expect(await store.faces.insertMany(faces)).toBe(2500);
    expect(await store.faces.count({ collectionId: collection.id })).toBe(2500);
  });

  it('deleting a collection deletes its images, faces and index runs', async () => {
    const { collection, image } = await seedImage();
    const faces = makeFaces(collection.id, image.id, image.sha256, 2);
    await store.faces.insertMany(faces);
    const run = await store.indexRuns.create({
      collectionId: collection.id,
      modelId: MODEL.id,
      modelVersion: MODEL.version,
    });
    expect(await store.collections.delete(collection.name)).toBe(true);
    expect(await store.images.get(image.id)).toBeUndefined();
    expect(await store.faces.getByIds(faces.map((f) => f.id))).toEqual([]);
    expect(await store.faces.count({ collectionId: collection.id })).toBe(0);
    expect(await store.indexRuns.get(run.id)).toBeUndefined();
    // The model outlives the collection.
    expect(await store.models.get(MODEL.id, MODEL.version)).toBeDefined();
  });

  it('sums run counters incremented concurrently', async () => {
    const { collection } = await seedImage();
    const run = await store.indexRuns.create({
      collectionId: collection.id,
      modelId: MODEL.id,
      modelVersion: MODEL.version,
      status: 'running',
    });
    // On Postgres a second store (a second pool, as another worker process would have) makes the
    // increments race across connections; PGlite allows one store per directory.
    const other = store.driver === 'postgres' ? await harness().open() : store;
    try {
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          (i % 2 ? other : store).indexRuns.addCounts(run.id, {
            imagesSeen: 1,
            facesIndexed: 2,
            embedMs: 1.4,
          }),
        ),
      );
    } finally {
      if (other !== store) await other.close();
    }
    const done = await store.indexRuns.require(run.id);
    expect(done).toMatchObject({ imagesSeen: 100, facesIndexed: 200, embedMs: 100, imagesFailed: 0 });
    await expectFeverError(store.indexRuns.addCounts(run.id, { imagesSeen: -1 }), 'INVALID_COUNT');
    await expectFeverError(store.indexRuns.addCounts(randomUUID(), { imagesSeen: 1 }), 'INDEX_RUN_NOT_FOUND');
  });

  it('moves an index run through its lifecycle', async () => {
    const { collection } = await seedImage();
    const run = await store.indexRuns.create({
      collectionId: collection.id,
      modelId: MODEL.id,
      modelVersion: MODEL.version,
      source: '/photos',
      params: { batch: 64 },
    });
    expect(run).toMatchObject({ status: 'queued', startedAt: null, params: { batch: 64 }, imagesSeen: 0 });
    const started = await store.indexRuns.start(run.id);
    expect(started.status).toBe('running');
    expect(started.startedAt).toBeInstanceOf(Date);
    expect((await store.indexRuns.start(run.id)).startedAt).toEqual(started.startedAt);

    const failed = await store.indexRuns.finish(run.id, {
      status: 'failed',
      errorCode: 'vectors_unavailable',
      errorMessage: 'qdrant down',
    });
    expect(failed).toMatchObject({ status: 'failed', errorCode: 'vectors_unavailable' });
    expect(failed.finishedAt).toBeInstanceOf(Date);
    // Finishing twice keeps the first outcome.
    expect((await store.indexRuns.finish(run.id, { status: 'succeeded' })).status).toBe('failed');
    await expectFeverError(store.indexRuns.start(run.id), 'RUN_FINISHED');

    const second = await store.indexRuns.create({
      collectionId: collection.id,
      modelId: MODEL.id,
      modelVersion: MODEL.version,
    });
    expect((await store.indexRuns.list({ collectionId: collection.id })).map((r) => r.id)).toEqual([
      second.id,
      run.id,
    ]);
    expect(
      (await store.indexRuns.list({ collectionId: collection.id, status: 'failed' })).map((r) => r.id),
    ).toEqual([run.id]);
    expect(await store.indexRuns.get(randomUUID())).toBeUndefined();
    await expectFeverError(store.indexRuns.get('nope'), 'INVALID_RUN_ID');
    await expectFeverError(
      store.indexRuns.create({ collectionId: collection.id, modelId: 'unknown', modelVersion: '0' }),
      'INDEX_RUN_REFERENCE_MISSING',
    );
  });

  it('records eval runs', async () => {
    const modelVersion = uniqueName('v');
    await store.models.register({ id: MODEL.id, version: modelVersion, dims: 16, labels: [] });
    const run = await store.evalRuns.create({
      modelId: MODEL.id,
      modelVersion,
      params: { csv: 'fec_test.csv' },
    });
    expect(run).toMatchObject({
      status: 'queued',
      metrics: null,
      report: null,
      params: { csv: 'fec_test.csv' },
    });
    const running = await store.evalRuns.update(run.id, { status: 'running' });
    expect(running.startedAt).toBeInstanceOf(Date);
    const done = await store.evalRuns.update(run.id, {
      status: 'succeeded',
      metrics: { accuracy: 0.818 },
      report: { byType: { ONE_CLASS_TRIPLET: { accuracy: 0.8 } } },
    });
    expect(done).toMatchObject({ status: 'succeeded', metrics: { accuracy: 0.818 } });
    expect(done.finishedAt).toBeInstanceOf(Date);
    await expectFeverError(store.evalRuns.update(run.id, { status: 'running' }), 'RUN_FINISHED');
    expect((await store.evalRuns.update(run.id, { report: { note: 'late' } })).report).toEqual({
      note: 'late',
    });
    expect(await store.evalRuns.get(run.id)).toMatchObject({ status: 'succeeded', report: { note: 'late' } });
    expect((await store.evalRuns.list({ modelId: MODEL.id, modelVersion })).map((r) => r.id)).toEqual([
      run.id,
    ]);
    await expectFeverError(store.evalRuns.update(randomUUID(), { status: 'running' }), 'EVAL_RUN_NOT_FOUND');
    await expectFeverError(
      store.evalRuns.create({ modelId: MODEL.id, modelVersion: 'never-registered' }),
      'MODEL_NOT_FOUND',
    );
  });

  it('registers models idempotently and refuses a changed version', async () => {
    const version = uniqueName('v');
    const model = { id: 'm', version, dims: 256, labels: LABELS, fileSha256: sha() };
    const first = await store.models.register(model);
    expect(await store.models.register(model)).toEqual(first);
    await expectFeverError(store.models.register({ ...model, dims: 128 }), 'MODEL_CONFLICT');
    await expectFeverError(store.models.register({ ...model, fileSha256: sha() }), 'MODEL_CONFLICT');
    expect((await store.models.list()).some((m) => m.version === version)).toBe(true);
  });

  it('keeps where a model version was last loaded from', async () => {
    const model = { id: 'm', version: uniqueName('v'), dims: 8, labels: [] };
    expect((await store.models.register(model)).manifestPath).toBeNull();
    const here = await store.models.register({ ...model, manifestPath: '/models/a/manifest.json' });
    expect(here.manifestPath).toBe('/models/a/manifest.json');
    // A process that does not say where from leaves the path alone; one from elsewhere moves it.
    expect((await store.models.register(model)).manifestPath).toBe('/models/a/manifest.json');
    await store.models.register({ ...model, manifestPath: '/models/b/manifest.json' });
    expect((await store.models.get(model.id, model.version))?.manifestPath).toBe('/models/b/manifest.json');
  });
}

// --- PGlite on disk ---------------------------------------------------------------------------

describe('metadata store on PGlite', () => {
  let root: string;
  let dataDir: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'fever-metadata-'));
    dataDir = join(root, 'metadata');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  metadataContract(() => ({
    open: () => openMetadataStore({ driver: 'pglite', dataDir }),
    async appliedMigrations() {
      const raw = await PGlite.create(dataDir);
      try {
        const { rows } = await raw.query<{ n: number }>(MIGRATIONS_COUNT_SQL);
        return rows[0]!.n;
      } finally {
        await raw.close();
      }
    },
  }));

  it('keeps faces and runs across a restart, and locks the directory while open', async () => {
    const dir = join(root, 'restart');
    let store = await openMetadataStore({ driver: 'pglite', dataDir: dir });
    await store.models.register({ ...MODEL, dims: 256, labels: LABELS });
    const collection = await store.collections.create({ name: 'restart' });
    const { image } = await store.images.upsert({
      collectionId: collection.id,
      sha256: sha(),
      uri: 'a',
      sizeBytes: 1,
    });
    const faces = makeFaces(collection.id, image.id, image.sha256, 2);
    await store.faces.insertMany(faces);
    const run = await store.indexRuns.create({
      collectionId: collection.id,
      modelId: MODEL.id,
      modelVersion: MODEL.version,
    });
    await store.indexRuns.addCounts(run.id, { imagesIndexed: 1, facesIndexed: 2 });

    await expectFeverError(openMetadataStore({ driver: 'pglite', dataDir: dir }), 'METADATA_LOCKED');

    await store.close();
    await store.close(); // closing twice is harmless
    store = await openMetadataStore({ driver: 'pglite', dataDir: dir });
    try {
      expect((await store.faces.getByIds(faces.map((f) => f.id))).length).toBe(2);
      expect(await store.indexRuns.require(run.id)).toMatchObject({ imagesIndexed: 1, facesIndexed: 2 });
      expect((await store.images.get(image.id))?.sha256).toBe(image.sha256);
    } finally {
      await store.close();
    }
  });
});

// --- Postgres ---------------------------------------------------------------------------------

const testPostgres = await findTestPostgres();

if (testPostgres.url === undefined) {
  const why = `Postgres test server unreachable (${testPostgres.reason})`;
  if (process.env.CI) {
    describe('metadata store on Postgres', () => {
      it('needs the test Postgres server (CI is set)', () => {
        throw new Error(
          `${why}. Start Postgres on 127.0.0.1:5432 with a database 'test' or set FEVER_TEST_DATABASE_URL.`,
        );
      });
    });
  } else {
    console.warn(`SKIPPED: metadata store on Postgres — ${why}. Set CI=1 to make this a failure.`);
    describe.skip('metadata store on Postgres (skipped: server unreachable)', () => {
      it('contract', () => {});
    });
  }
} else {
  const adminUrl = testPostgres.url;

  describe('metadata store on Postgres', () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(adminUrl);
    });
    afterAll(async () => {
      await database?.drop();
    });

    metadataContract(() => ({
      open: () => openMetadataStore({ driver: 'postgres', url: database.url, poolSize: 4 }),
      async appliedMigrations() {
        const client = postgres(database.url, { max: 1 });
        try {
          const [row] = await client.unsafe<[{ n: number }]>(MIGRATIONS_COUNT_SQL);
          return row.n;
        } finally {
          await client.end();
        }
      },
    }));

    it('lets several processes migrate a fresh database at once', async () => {
      const fresh = await createTestDatabase(adminUrl);
      try {
        const stores = await Promise.all(
          Array.from({ length: 4 }, () =>
            openMetadataStore({ driver: 'postgres', url: fresh.url, poolSize: 1 }),
          ),
        );
        await Promise.all(stores.map((s) => s.close()));
        const client = postgres(fresh.url, { max: 1 });
        try {
          const [row] = await client.unsafe<[{ n: number }]>(MIGRATIONS_COUNT_SQL);
          expect(row.n).toBe(JOURNAL_ENTRIES);
        } finally {
          await client.end();
        }
      } finally {
        await fresh.drop();
      }
    });

    it('says which server it cannot reach, without the password', async () => {
      const err = await openMetadataStore({
        driver: 'postgres',
        url: 'postgres://fever:s3cret@127.0.0.1:1/nowhere',
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FeverError);
      expect((err as FeverError).code).toBe('METADATA_UNAVAILABLE');
      expect((err as FeverError).message).toContain('127.0.0.1:1/nowhere');
      expect((err as FeverError).message).not.toContain('s3cret');
    });
  });
}
