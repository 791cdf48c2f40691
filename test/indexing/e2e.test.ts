/**
 * End to end, through the real `fever` CLI: the face-api sample photos plus muxspace indexed in
 * the embedded mode (PGlite + usearch, in-process runner) and on Postgres + Redis with two
 * BullMQ worker processes. After each run, metadata and the vector store must agree; a re-run in
 * `missing` mode must write nothing; `all` must re-write the very same ids.
 */
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { modelContext } from '@fever/core';
import { duoComposite, samplePhotos, sharedData } from '@fever/encoder/testing';
import type { IndexRun } from '@fever/metadata';
import { createTestDatabase, findTestPostgres, type TestDatabase } from '@fever/metadata/testing';
import { modelAliasName, modelCollectionName } from '@fever/vectors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CollectionState,
  collectionState,
  distinctContents,
  type FeverProcess,
  firstImages,
  listFile,
  openStores,
  removeQuietly,
  runFever,
  startWorker,
  stopProcess,
  type TestEnv,
  tempDir,
} from '../harness/harness.ts';

const mux = sharedData('muxspace');

/** A folder of symlinks: the six samples and every muxspace image (≈ 936 photos). */
function corpus(): { dir: string; files: string[] } {
  const dir = join(tempDir('corpus'), 'photos');
  const files = [...samplePhotos(), ...(mux ? firstImages(mux, 100_000) : [])];
  mkdirSync(join(dir, 'samples'), { recursive: true });
  mkdirSync(join(dir, 'muxspace'), { recursive: true });
  // A link to a directory is never followed (no cycles).
  symlinkSync(dir, join(dir, 'muxspace', 'loop'));
  for (const f of files) {
    symlinkSync(f, join(dir, f.includes('/demo/') ? 'samples' : 'muxspace', basename(f)));
  }
  return { dir, files };
}

async function latestRun(env: TestEnv, collection: string): Promise<IndexRun> {
  const stores = await openStores(env);
  try {
    const c = await stores.metadata.collections.require(collection);
    const [run] = await stores.metadata.indexRuns.list({ collectionId: c.id, limit: 1 });
    return run!;
  } finally {
    await stores.close();
  }
}

/** Checks and returns the collection's state: metadata and vectors agree. */
function expectConsistent(state: CollectionState): void {
  expect(state.vectorCount, 'vectors in the store for the collection = faces in metadata').toBe(
    state.faceIds.length,
  );
  expect(state.vectorsFound, 'every face id has its vector').toBe(state.faceIds.length);
  // Collections store identity descriptors by default, through BullMQ's wire format too.
  expect(state.identities, 'every face has its identity descriptor').toBe(state.faceIds.length);
  expect(new Set(state.faceIds).size).toBe(state.faceIds.length);
}

describe.skipIf(!mux)('end to end, embedded mode (PGlite + usearch, in-process)', () => {
  let env: TestEnv;
  let photos: { dir: string; files: string[] };
  let distinct: number;
  let first: CollectionState;

  beforeAll(() => {
    env = { dataDir: join(tempDir('e2e-embedded'), 'data') };
    photos = corpus();
    distinct = distinctContents(photos.files);
  });
  afterAll(() => {
    removeQuietly(join(env.dataDir, '..'));
    removeQuietly(join(photos.dir, '..'));
  });

  it('indexes the sample photos and muxspace; metadata and vectors agree', async () => {
    const result = await runFever(['index', photos.dir, '--collection', 'e2e'], env);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toMatch(/succeeded/);
    const run = await latestRun(env, 'e2e');
    expect(run.status).toBe('succeeded');
    expect(run.imagesSeen).toBe(photos.files.length);
    expect(run.imagesFailed).toBe(0);
    expect(run.imagesIndexed).toBe(distinct);
    expect(run.imagesSkipped).toBe(photos.files.length - distinct);
    const stores = await openStores(env);
    try {
      first = await collectionState(stores.metadata, stores.vectors, 'e2e');
      expectConsistent(first);
      expect(first.faceIds.length).toBe(run.facesIndexed);
      expect(first.faceIds.length).toBeGreaterThanOrEqual(21); // the six samples alone hold 21
      expect(first.embedded).toBe(distinct);
      expect(first.images).toEqual({ pending: 0, indexed: distinct, failed: 0 });
      // The alias that searches go through points at this model version's collection.
      const [model] = await stores.metadata.models.list();
      const { alias, vectorCollection } = modelContext(model!);
      expect(await stores.vectors.getAlias(alias)).toBe(vectorCollection);
    } finally {
      await stores.close();
    }
  });

  it('a re-run in missing mode writes nothing', async () => {
    const stores = await openStores(env);
    const c = await stores.metadata.collections.require('e2e');
    const before = await stores.metadata.indexRuns.list({ collectionId: c.id, limit: 1 });
    const entries = await stores.metadata.indexing.listEntries(before[0]!.id, { limit: 100_000 });
    const imageIds = entries.map((e) => e.imageId!).filter((id) => id !== null);
    const stamps = new Map(
      (await stores.metadata.images.getByIds(imageIds)).map((i) => [i.id, i.updatedAt.valueOf()]),
    );
    await stores.close();

    const result = await runFever(['index', photos.dir, '--collection', 'e2e'], env);
    expect(result.code, result.output).toBe(0);
    const run = await latestRun(env, 'e2e');
    expect(run.id).not.toBe(before[0]!.id);
    expect(run).toMatchObject({ status: 'succeeded', imagesIndexed: 0, imagesFailed: 0, facesIndexed: 0 });
    expect(run.imagesSkipped).toBe(photos.files.length);

    const after = await openStores(env);
    try {
      const state = await collectionState(after.metadata, after.vectors, 'e2e');
      expect(state.faceIds).toEqual(first.faceIds);
      expect(state.vectorCount).toBe(first.vectorCount);
      const now = await after.metadata.images.getByIds(imageIds);
      expect(now.filter((i) => i.updatedAt.valueOf() !== stamps.get(i.id)).map((i) => i.uri)).toEqual([]);
    } finally {
      await after.close();
    }
  });

  it('--mode all re-embeds under the same ids (a list of the samples and 30 muxspace photos)', async () => {
    // A subset keeps the test short; the ids of the whole collection must come out unchanged.
    const subset = [...samplePhotos(), ...firstImages(mux!, 30)];
    const list = listFile(tempDir('e2e-list'), subset);
    const result = await runFever(['index', list, '--collection', 'e2e', '--mode', 'all'], env);
    expect(result.code, result.output).toBe(0);
    const run = await latestRun(env, 'e2e');
    expect(run).toMatchObject({ status: 'succeeded', imagesSeen: subset.length, imagesFailed: 0 });
    expect(run.imagesIndexed).toBe(distinctContents(subset));
    expect(run.facesIndexed).toBeGreaterThanOrEqual(20);
    const stores = await openStores(env);
    try {
      const state = await collectionState(stores.metadata, stores.vectors, 'e2e');
      expectConsistent(state);
      expect(state.faceIds).toEqual(first.faceIds);
    } finally {
      await stores.close();
    }
  });

  it('fever search answers from the index', async () => {
    const [sample] = samplePhotos();
    const result = await runFever(['search', sample!, '--collection', 'e2e', '--k', '3', '--json'], env);
    expect(result.code, result.output).toBe(0);
    const json = JSON.parse(result.output.slice(result.output.indexOf('{\n'))) as {
      faces: { results: { image: { uri: string }; similarity: number }[] }[];
    };
    expect(json.faces).toHaveLength(1);
    expect(json.faces[0]!.results).toHaveLength(3);
    // The query photo itself is indexed, but never answers itself.
    for (const r of json.faces[0]!.results) expect(basename(r.image.uri)).not.toBe(basename(sample!));
  });
});

describe.skipIf(!mux)('end to end, Postgres + Redis (BullMQ) with two worker processes', () => {
  let db: TestDatabase | undefined;
  let env: TestEnv;
  let photos: { dir: string; files: string[] };
  let distinct: number;
  const workers: FeverProcess[] = [];
  let firstIds: string[] = [];

  beforeAll(async () => {
    const pg = await findTestPostgres();
    if (pg.url === undefined)
      throw new Error(`these tests need Postgres on 127.0.0.1:5432 (db test): ${pg.reason}`);
    db = await createTestDatabase(pg.url);
    env = {
      dataDir: join(tempDir('e2e-bullmq'), 'data'),
      databaseUrl: db.url,
      redisUrl: 'redis://127.0.0.1:6379',
    };
    photos = corpus();
    distinct = distinctContents(photos.files);
    workers.push(await startWorker(env), await startWorker(env));
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => stopProcess(w, 'SIGKILL')));
    await db?.drop();
    removeQuietly(join(env.dataDir, '..'));
    removeQuietly(join(photos.dir, '..'));
  });

  async function metadataState(collection: string) {
    const { openMetadataStore } = await import('@fever/metadata');
    const metadata = await openMetadataStore({ driver: 'postgres', url: db!.url });
    try {
      const c = await metadata.collections.require(collection);
      const [run] = await metadata.indexRuns.list({ collectionId: c.id, limit: 1 });
      const [model] = await metadata.models.list();
      const key = { modelId: model!.id, modelVersion: model!.version };
      return {
        run: run!,
        faceIds: await metadata.indexing.listFaceIds(c.id, key, { limit: 100_000 }),
        embedded: await metadata.indexing.countEmbedded(c.id, key),
        ledger: await metadata.indexing.countEntries(run!.id),
      };
    } finally {
      await metadata.close();
    }
  }

  it('one worker holds the vector store and writes; both discover and embed', () => {
    const writers = workers.filter((w) => w.output().includes('serving the write queue'));
    expect(writers).toHaveLength(1);
    for (const w of workers) expect(w.output()).toContain('serving the embed queue');
  });

  it('indexes the sample photos and muxspace through the queues', async () => {
    const result = await runFever(['index', photos.dir, '--collection', 'e2e'], env);
    expect(result.code, result.output).toBe(0);
    const { run, faceIds, embedded, ledger } = await metadataState('e2e');
    expect(run).toMatchObject({
      status: 'succeeded',
      imagesSeen: photos.files.length,
      imagesIndexed: distinct,
      imagesFailed: 0,
    });
    expect(ledger).toEqual({
      pending: 0,
      indexed: distinct,
      skipped: photos.files.length - distinct,
      failed: 0,
    });
    expect(embedded).toBe(distinct);
    expect(faceIds.length).toBe(run.facesIndexed);
    expect(faceIds.length).toBeGreaterThanOrEqual(21);
    firstIds = faceIds;
  });

  it('a re-run in missing mode writes nothing', async () => {
    const result = await runFever(['index', photos.dir, '--collection', 'e2e'], env);
    expect(result.code, result.output).toBe(0);
    const { run, faceIds } = await metadataState('e2e');
    expect(run).toMatchObject({
      status: 'succeeded',
      imagesIndexed: 0,
      facesIndexed: 0,
      imagesSkipped: photos.files.length,
    });
    expect(faceIds).toEqual(firstIds);
  });

  it('--mode all re-writes the same ids (a list of the samples and 30 muxspace photos)', async () => {
    const subset = [...samplePhotos(), ...firstImages(mux!, 30)];
    const list = listFile(tempDir('e2e-list'), subset);
    const result = await runFever(['index', list, '--collection', 'e2e', '--mode', 'all'], env);
    expect(result.code, result.output).toBe(0);
    const { run, faceIds } = await metadataState('e2e');
    expect(run).toMatchObject({ status: 'succeeded', imagesSeen: subset.length, imagesFailed: 0 });
    expect(run.imagesIndexed).toBe(distinctContents(subset));
    expect(run.facesIndexed).toBeGreaterThanOrEqual(20);
    expect(faceIds).toEqual(firstIds);
  });

  it('workers stop cleanly on SIGTERM; then vectors and metadata agree', async () => {
    for (const w of workers) w.proc.kill('SIGTERM');
    const exits = await Promise.all(workers.map((w) => w.exited));
    for (const [i, e] of exits.entries()) {
      expect(e.code, workers[i]!.output().slice(-2000)).toBe(0);
      expect(workers[i]!.output()).toContain('worker stopped cleanly');
    }
    const stores = await openStores(env);
    try {
      const state = await collectionState(stores.metadata, stores.vectors, 'e2e');
      expectConsistent(state);
      expect(state.faceIds).toEqual(firstIds);
    } finally {
      await stores.close();
    }
  });
});

describe('a new model version', () => {
  let root: string;
  beforeAll(() => {
    root = tempDir('e2e-version');
  });
  afterAll(() => removeQuietly(root));

  it('indexes into its own vector collection and takes over the alias when its run completes', async () => {
    const env: TestEnv = { dataDir: join(root, 'data') };
    const demo = dirname(samplePhotos()[0]!);
    const { FACE_API_EXPRESSION_MANIFEST } = await import('@fever/encoder');
    const first = await runFever(['index', demo, '--collection', 'versions'], {
      ...env,
      vars: { FEVER_MODEL: FACE_API_EXPRESSION_MANIFEST },
    });
    expect(first.code, first.output).toBe(0);

    // The same weights released as another version: a manifest beside a copy of the model.
    const manifest = JSON.parse(readFileSync(FACE_API_EXPRESSION_MANIFEST, 'utf8')) as {
      id: string;
      version: string;
      file: string;
    };
    const v1 = manifest.version;
    const v2 = '2.0.0-test';
    mkdirSync(join(root, 'v2'));
    copyFileSync(join(dirname(FACE_API_EXPRESSION_MANIFEST), manifest.file), join(root, 'v2', manifest.file));
    writeFileSync(join(root, 'v2', 'manifest.json'), JSON.stringify({ ...manifest, version: v2 }));
    const second = await runFever(['index', demo, '--collection', 'versions'], {
      ...env,
      vars: { FEVER_MODEL: join(root, 'v2', 'manifest.json') },
    });
    expect(second.code, second.output).toBe(0);

    const stores = await openStores(env);
    try {
      const c = await stores.metadata.collections.require('versions');
      const [run2, run1] = await stores.metadata.indexRuns.list({ collectionId: c.id });
      // Nothing is skipped: the images have no embedding of the new version yet.
      expect(run2).toMatchObject({ modelVersion: v2, status: 'succeeded', imagesSkipped: 0 });
      expect(run2!.imagesIndexed).toBe(run1!.imagesIndexed);
      expect(run2!.facesIndexed).toBe(run1!.facesIndexed);
      expect(await stores.vectors.getAlias(modelAliasName(manifest.id))).toBe(
        modelCollectionName(manifest.id, v2),
      );
      // The old version's vectors are kept for the replicas still running it, never mixed in.
      for (const [version, run] of [
        [v1, run1!],
        [v2, run2!],
      ] as const) {
        const ids = await stores.metadata.indexing.listFaceIds(c.id, {
          modelId: manifest.id,
          modelVersion: version,
        });
        expect(ids.length).toBe(run.facesIndexed);
        const name = modelCollectionName(manifest.id, version);
        expect(await stores.vectors.count(name, { collections: ['versions'] })).toBe(ids.length);
        expect((await stores.vectors.get(name, ids)).length).toBe(ids.length);
      }
    } finally {
      await stores.close();
    }
  });
});

describe('a composite model', () => {
  let root: string;
  beforeAll(() => {
    root = tempDir('e2e-composite');
  });
  afterAll(() => removeQuietly(root));

  it('indexes fused vectors into its own collection, and search by upload uses it', async () => {
    const { loadExpressionModel } = await import('@fever/encoder');
    const manifest = join(root, 'duo.json');
    writeFileSync(manifest, JSON.stringify(duoComposite()));
    const { version } = (await loadExpressionModel(manifest)).manifest;
    const env: TestEnv = { dataDir: join(root, 'data'), vars: { FEVER_MODEL: manifest } };
    const demo = dirname(samplePhotos()[0]!);
    const indexed = await runFever(['index', demo, '--collection', 'duo'], env);
    expect(indexed.code, indexed.output).toBe(0);
    const searched = await runFever(['search', samplePhotos()[1]!, '--collection', 'duo', '--json'], env);
    expect(searched.code, searched.output).toBe(0);
    // The answer names the model version that served it: the composite's.
    expect(searched.output).toMatch(new RegExp(`"version":\\s*"${version.replace('.', '\\.')}"`));

    const stores = await openStores(env);
    try {
      const c = await stores.metadata.collections.require('duo');
      const [run] = await stores.metadata.indexRuns.list({ collectionId: c.id });
      expect(run).toMatchObject({ modelId: 'duo', modelVersion: version, status: 'succeeded' });
      const ids = await stores.metadata.indexing.listFaceIds(c.id, { modelId: 'duo', modelVersion: version });
      expect(ids.length).toBe(run!.facesIndexed);
      const [first] = await stores.vectors.get(modelCollectionName('duo', version), ids.slice(0, 1));
      expect(first!.vector.length).toBe(512);
    } finally {
      await stores.close();
    }
  });
});
