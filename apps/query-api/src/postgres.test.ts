/**
 * The routes whose answers depend on the metadata database, against a real Postgres
 * (DATABASE_URL mode): search hydration, faces and images, readiness, collection deletion.
 */
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTestDatabase, findTestPostgres, type TestDatabase } from '@fever/metadata/testing';
import type { IndexRunResponse, ReadyResponse, SearchResponse, SimilarFacesResponse } from '@fever/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type FeverApp } from './app.ts';
import { json, postJson, untilFinished } from './test-http.ts';
import { type Fixture, openFixture } from './testing.ts';

const pg = await findTestPostgres();
if (pg.url === undefined) {
  if (process.env.CI) throw new Error(`no test Postgres, and CI is set: ${pg.reason}`);
  console.warn(`SKIPPED: the Postgres API tests need a test Postgres (${pg.reason})`);
}

let db: TestDatabase;
let fx: Fixture;
let app: FeverApp;

beforeAll(async () => {
  if (!pg.url) return;
  db = await createTestDatabase(pg.url);
  fx = await openFixture({ databaseUrl: db.url });
  app = createApp(fx.runtime);
});

afterAll(async () => {
  await fx?.close();
  await db?.drop();
});

describe.skipIf(!pg.url)('query API on Postgres', () => {
  it('is ready, in the postgres mode', async () => {
    const body = (await (await app.request('/readyz')).json()) as ReadyResponse;
    expect(body.status).toBe('ready');
    expect(body.mode.metadata).toBe('postgres');
  });

  it('searches by example and by face id, hydrating from Postgres', async () => {
    const photo = readFileSync(fx.photos[5]!);
    const res = await app.request('/search?k=4&collection=family', {
      method: 'POST',
      body: photo,
      headers: { 'Content-Type': 'image/jpeg' },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as SearchResponse;
    expect(body.faces[0]!.results).toHaveLength(4);
    expect(body.faces[0]!.results.every((r) => r.collection === 'family')).toBe(true);

    const face = fx.faces[0]!;
    const similar = (await (
      await app.request(`/faces/${face.id}/similar?k=5`)
    ).json()) as SimilarFacesResponse;
    expect(similar.face.id).toBe(face.id);
    expect(similar.results).toHaveLength(5);
    expect(similar.results.map((r) => r.id)).not.toContain(face.id);

    const image = await app.request(`/images/${face.imageId}/file`);
    expect(Buffer.from(await image.arrayBuffer()).equals(readFileSync(face.photo))).toBe(true);
  });

  it('deletes a collection with its metadata and vectors', async () => {
    const model = await fx.runtime.model();
    const family = fx.faces.filter((f) => f.collection === 'family');
    const res = await app.request('/collections/family', { method: 'DELETE' });
    expect(await res.json()).toEqual({ name: 'family', images: 3, faces: family.length });
    expect(await fx.runtime.vectors.count(model.vectorCollection, { collections: ['family'] })).toBe(0);
    expect(await fx.runtime.metadata.faces.count()).toBe(fx.faces.length - family.length);
    expect((await app.request(`/faces/${family[0]!.id}/similar`)).status).toBe(404);
    const list = (await (await app.request('/collections')).json()) as { collections: { name: string }[] };
    expect(list.collections.map((c) => c.name)).toEqual(['travel']);
  });

  it('identical POST /runs at once start one run, which counts each image once', async () => {
    const root = join(fx.dataDir, 'incoming');
    const rooted = createApp(fx.runtime, { indexRoots: [root] });
    // A few rounds: the race is between requests side by side, and one round may not meet it.
    for (const round of [1, 2, 3]) {
      const source = join(root, `batch${round}`);
      const collection = `twice${round}`;
      await mkdir(source, { recursive: true });
      for (const n of [1, 2, 3]) await writeFile(join(source, `${n}.jpg`), readFileSync(fx.photos[n - 1]!));
      // The collection exists, so the requests go through the same steps side by side.
      await postJson(rooted, '/collections', { name: collection });
      const answers = await Promise.all(
        Array.from({ length: 6 }, () => postJson(rooted, '/runs', { source, collection })),
      );
      expect(answers.map((a) => a.status)).toEqual(Array(6).fill(202));
      const ids = new Set(
        (await Promise.all(answers.map((a) => json<IndexRunResponse>(a)))).map((r) => r.id),
      );
      expect(ids.size).toBe(1);
      const [id] = [...ids];
      const run = await untilFinished<IndexRunResponse>(rooted, `/runs/${id}`);
      expect(run).toMatchObject({ status: 'succeeded', counts: { imagesSeen: 3, imagesIndexed: 3 } });
      const list = await json<{ runs: IndexRunResponse[] }>(
        await rooted.request(`/runs?collection=${collection}`),
      );
      expect(list.runs.map((r) => r.id)).toEqual([id]);
    }
  });
});
