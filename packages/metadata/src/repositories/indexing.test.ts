/**
 * The indexer's exactly-once bookkeeping, on PGlite and on real Postgres: discovering or
 * recording the same entries again (a replayed job, a re-walk after a crash) changes nothing.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { facePointId } from '@fever/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MetadataStore, openMetadataStore } from '../index.ts';
import { createTestDatabase, findTestPostgres, type TestDatabase } from '../testing.ts';
import type { EntryResult } from './indexing.ts';

const MODEL = { modelId: 'test-expression', modelVersion: '1' };
const sha = () => randomBytes(32).toString('hex');

function suite(open: () => Promise<{ store: MetadataStore; close(): Promise<void> }>) {
  let store: MetadataStore;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ store, close } = await open());
    await store.models.register({
      id: MODEL.modelId,
      version: MODEL.modelVersion,
      dims: 4,
      labels: ['a', 'b'],
    });
  });
  afterAll(async () => close?.());

  async function newRun() {
    const collection = await store.collections.create({ name: `c-${randomBytes(4).toString('hex')}` });
    const run = await store.indexRuns.create({
      collectionId: collection.id,
      ...MODEL,
      source: '/src',
      status: 'running',
    });
    return { collection, run };
  }

  it('counts a discovered entry once, however often it is discovered', async () => {
    const { run } = await newRun();
    const first = await store.indexing.addEntries(run.id, ['/a.jpg', '/b.jpg', '/a.jpg']);
    expect(first).toEqual({ todo: ['/a.jpg', '/b.jpg'], added: 2 });
    const again = await store.indexing.addEntries(run.id, ['/b.jpg', '/c.jpg']);
    expect(again).toEqual({ todo: ['/b.jpg', '/c.jpg'], added: 1 });
    expect((await store.indexRuns.require(run.id)).imagesSeen).toBe(3);
  });

  it('records an outcome once: a replayed batch adds no faces and no counts', async () => {
    const { collection, run } = await newRun();
    await store.indexing.addEntries(run.id, ['/x.jpg', '/y.jpg', '/z.jpg']);
    const images = await store.indexing.upsertImages([
      { collectionId: collection.id, sha256: sha(), uri: '/x.jpg', sizeBytes: 10 },
      { collectionId: collection.id, sha256: sha(), uri: '/y.jpg', sizeBytes: 10 },
    ]);
    const [x, y] = [...images.values()];
    const faces = [0, 1].map((faceIndex) => ({
      id: facePointId({ collectionId: collection.id, imageSha256: x!.sha256, faceIndex, ...MODEL }),
      imageId: x!.id,
      collectionId: collection.id,
      faceIndex,
      box: { x: 1, y: 2, width: 3, height: 4 },
      detectionScore: 0.9,
      probs: [0.2, 0.8],
      label: 'b',
      ...MODEL,
    }));
    const batch: EntryResult[] = [
      { uri: '/x.jpg', outcome: 'indexed', imageId: x!.id, width: 8, height: 8, faces },
      { uri: '/y.jpg', outcome: 'failed', imageId: y!.id, errorCode: 'IMAGE_TRUNCATED', errorMessage: 'cut' },
    ];
    const first = await store.indexing.record({ runId: run.id, model: MODEL, entries: batch });
    expect(first.moved.sort()).toEqual(['/x.jpg', '/y.jpg']);
    const replay = await store.indexing.record({ runId: run.id, model: MODEL, entries: batch });
    expect(replay.moved).toEqual([]);
    const after = await store.indexRuns.require(run.id);
    expect(after).toMatchObject({
      imagesSeen: 3,
      imagesIndexed: 1,
      imagesFailed: 1,
      imagesSkipped: 0,
      facesIndexed: 2,
    });
    expect(await store.indexing.countEntries(run.id)).toEqual({
      pending: 1,
      indexed: 1,
      skipped: 0,
      failed: 1,
    });
    expect(await store.indexing.listFaceIds(collection.id, MODEL)).toEqual(faces.map((f) => f.id).sort());
    expect(await store.indexing.embedded([x!.id, y!.id], MODEL)).toEqual(new Map([[x!.id, 2]]));
    expect((await store.images.get(y!.id))?.status).toBe('failed');
    // Not done until the last entry has its outcome and discovery has finished.
    expect(await store.indexing.completeIfDone(run.id)).toBeUndefined();
    await store.indexing.record({
      runId: run.id,
      model: MODEL,
      entries: [
        { uri: '/z.jpg', outcome: 'skipped', imageId: x!.id, faceCount: 2, reason: 'DUPLICATE_CONTENT' },
      ],
    });
    expect(await store.indexing.completeIfDone(run.id)).toBeUndefined();
    await store.indexing.markDiscovered(run.id);
    expect((await store.indexing.completeIfDone(run.id))?.status).toBe('succeeded');
    expect(await store.indexing.completeIfDone(run.id)).toBeUndefined();
  });

  it('a re-index that finds fewer faces removes the stale ones; unchanged images are not rewritten', async () => {
    const { collection, run } = await newRun();
    const hash = sha();
    await store.indexing.addEntries(run.id, ['/p.jpg']);
    const [image] = [
      ...(
        await store.indexing.upsertImages([
          { collectionId: collection.id, sha256: hash, uri: '/p.jpg', sizeBytes: 5 },
        ])
      ).values(),
    ];
    const face = (faceIndex: number) => ({
      id: facePointId({ collectionId: collection.id, imageSha256: hash, faceIndex, ...MODEL }),
      imageId: image!.id,
      collectionId: collection.id,
      faceIndex,
      box: { x: 0, y: 0, width: 1, height: 1 },
      detectionScore: 0.5,
      probs: [0.5, 0.5],
      label: 'a',
      ...MODEL,
    });
    await store.indexing.record({
      runId: run.id,
      model: MODEL,
      entries: [
        {
          uri: '/p.jpg',
          outcome: 'indexed',
          imageId: image!.id,
          width: 4,
          height: 4,
          faces: [face(0), face(1), face(2)],
        },
      ],
    });
    const again = await store.indexRuns.create({
      collectionId: collection.id,
      ...MODEL,
      source: '/src2',
      status: 'running',
    });
    await store.indexing.addEntries(again.id, ['/p.jpg']);
    const stamp = (await store.images.get(image!.id))!.updatedAt.valueOf();
    await store.indexing.upsertImages([
      { collectionId: collection.id, sha256: hash, uri: '/p.jpg', sizeBytes: 5 },
    ]);
    expect((await store.images.get(image!.id))!.updatedAt.valueOf()).toBe(stamp);
    await store.indexing.record({
      runId: again.id,
      model: MODEL,
      entries: [
        { uri: '/p.jpg', outcome: 'indexed', imageId: image!.id, width: 4, height: 4, faces: [face(0)] },
      ],
    });
    expect(await store.indexing.listFaceIds(collection.id, MODEL)).toEqual([face(0).id]);
    expect(await store.indexing.embedded([image!.id], MODEL)).toEqual(new Map([[image!.id, 1]]));
  });
}

describe('indexing bookkeeping on PGlite', () => {
  suite(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fever-indexing-'));
    const store = await openMetadataStore({ driver: 'pglite', dataDir: join(dir, 'db') });
    return {
      store,
      async close() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
});

describe('indexing bookkeeping on Postgres', () => {
  let db: TestDatabase | undefined;
  suite(async () => {
    const pg = await findTestPostgres();
    if (pg.url === undefined)
      throw new Error(`these tests need Postgres on 127.0.0.1:5432 (db test): ${pg.reason}`);
    db = await createTestDatabase(pg.url);
    const store = await openMetadataStore({ driver: 'postgres', url: db.url });
    return {
      store,
      async close() {
        await store.close();
        await db?.drop();
      },
    };
  });
});
