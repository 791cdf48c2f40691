/**
 * People and person-aware search through app.request, on the embedded store and on a real
 * Postgres: the face-api sample photos with a scaled and a mirrored copy of each (every person
 * appears three times), indexed by the real indexer and clustered.
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createLogger,
  openRuntime,
  PeopleService,
  type ServingRuntime,
  startIndexRun,
  waitForRun,
} from '@fever/core';
import { writePeoplePhotos } from '@fever/core/testing';
import { samplePhotos } from '@fever/encoder/testing';
import { createTestDatabase, findTestPostgres, type TestDatabase } from '@fever/metadata/testing';
import type {
  ClusteringResponse,
  PersonDetailResponse,
  PersonListResponse,
  PersonSummaryResponse,
  SearchResponse,
  SimilarFacesResponse,
  VectorSearchResponse,
} from '@fever/schema';
import { parseConfig } from '@fever/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type FeverApp } from './app.ts';
import { expectError, json, postJson } from './test-http.ts';

const pg = await findTestPostgres();
if (pg.url === undefined) {
  if (process.env.CI) throw new Error(`no test Postgres, and CI is set: ${pg.reason}`);
  console.warn(`SKIPPED: the Postgres half needs a test Postgres (${pg.reason})`);
}

let root: string;
let photos: Awaited<ReturnType<typeof writePeoplePhotos>>;
let db: TestDatabase | undefined;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fever-api-people-'));
  await mkdir(join(root, 'photos'));
  await mkdir(join(root, 'bare'));
  photos = await writePeoplePhotos(join(root, 'photos'), samplePhotos().slice(0, 4));
  await writePeoplePhotos(join(root, 'bare'), samplePhotos().slice(4, 5));
  if (pg.url) db = await createTestDatabase(pg.url);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await db?.drop();
});

const jpeg = (body: Uint8Array) => ({
  method: 'POST',
  body: body as RequestInit['body'],
  headers: { 'Content-Type': 'image/jpeg' },
});

describe.each(['embedded', ...(pg.url ? ['postgres'] : [])])(
  'people and person-aware search (%s)',
  (mode) => {
    let runtime: ServingRuntime;
    let app: FeverApp;
    /** Every indexed face of `family` with its person. */
    let faces: { id: string; personId: number; uri: string }[];

    beforeAll(async () => {
      runtime = await openRuntime(
        parseConfig({
          FEVER_DATA_DIR: join(root, mode),
          FEVER_DEVICE: 'cpu',
          FEVER_LOG_LEVEL: 'silent',
          ...(mode === 'postgres' ? { DATABASE_URL: db!.url } : {}),
        }),
        { logger: createLogger('silent') },
      );
      app = createApp(runtime);
      for (const [source, collection, identity] of [
        [join(root, 'photos'), 'family', true],
        [join(root, 'bare'), 'bare', false],
      ] as const) {
        const { runId } = await startIndexRun(runtime, { source, collection, identity });
        expect((await waitForRun(runtime, runId, { intervalMs: 100 })).status).toBe('succeeded');
      }
      await new PeopleService(runtime).cluster('family');
      const { metadata } = runtime;
      const c = await metadata.collections.require('family');
      const model = await runtime.model();
      const ids = (
        await metadata.identities.list(c.id, { modelId: model.id, modelVersion: model.version })
      ).map((r) => r.faceId);
      const person = await metadata.people.personOf(ids);
      const rows = await metadata.faces.getByIds(ids);
      const images = new Map(
        (await metadata.images.getByIds(rows.map((f) => f.imageId))).map((i) => [i.id, i.uri]),
      );
      faces = rows.map((f) => ({ id: f.id, personId: person.get(f.id)!, uri: images.get(f.imageId)! }));
    }, 300_000);
    afterAll(() => runtime?.close());

    /** A face whose person has all three copies. */
    const querySubject = () => {
      const sizes = new Map<number, number>();
      for (const f of faces) sizes.set(f.personId, (sizes.get(f.personId) ?? 0) + 1);
      return faces.find((f) => sizes.get(f.personId) === 3)!;
    };

    it("person=other leaves out the query face's cluster; without it its own copies come first", async () => {
      const q = querySubject();
      const plain = await json<SimilarFacesResponse>(
        await app.request(`/faces/${q.id}/similar?k=10&collection=family`),
      );
      expect(plain.face.personId).toBe(q.personId);
      // Its copies are the same expression too: the plain search finds them.
      expect(plain.results.filter((r) => r.personId === q.personId).length).toBeGreaterThan(0);
      const other = await json<SimilarFacesResponse>(
        await app.request(`/faces/${q.id}/similar?k=10&collection=family&person=other`),
      );
      expect(other.results).toHaveLength(10);
      expect(other.results.some((r) => r.personId === q.personId)).toBe(false);
      for (let i = 1; i < other.results.length; i++) {
        expect(other.results[i - 1]!.similarity).toBeGreaterThanOrEqual(other.results[i]!.similarity);
      }
    });

    it('person=other on an upload leaves out faces within the identity distance of the query', async () => {
      // The scaled copy of photo 0 is not indexed as such (its bytes differ); its faces' people are.
      const upload = readFileSync(photos.copies.find((c) => c.file.endsWith('0-small.jpg'))!.file);
      const plain = await json<SearchResponse>(
        await app.request('/search?k=10&collection=family', jpeg(upload)),
      );
      const other = await json<SearchResponse>(
        await app.request('/search?k=10&collection=family&person=other', jpeg(upload)),
      );
      const hit = plain.faces[0]!.results[0]!;
      // The nearest face by expression is the same face in the indexed copy: its own person.
      expect(hit.image.uri).toMatch(/0(-small|-mirror)?\.jpg$/);
      expect(other.faces[0]!.results.map((r) => r.id)).not.toContain(hit.id);
      expect(other.faces[0]!.results.length).toBe(10);
    });

    it("person=<id> gives only that person's faces, by expression; diverse caps each person", async () => {
      const q = querySubject();
      const only = await json<SimilarFacesResponse>(
        await app.request(`/faces/${q.id}/similar?k=10&person=${q.personId}`),
      );
      expect(only.results.length).toBe(2); // the query itself is never a result
      expect(only.results.every((r) => r.personId === q.personId)).toBe(true);
      expect(only.results[0]!.similarity).toBeGreaterThanOrEqual(only.results[1]!.similarity);

      const diverse = await json<SimilarFacesResponse>(
        await app.request(`/faces/${q.id}/similar?k=8&collection=family&diverse=true`),
      );
      const people = diverse.results.map((r) => r.personId);
      expect(new Set(people).size).toBe(people.length);
      const two = await json<SimilarFacesResponse>(
        await app.request(`/faces/${q.id}/similar?k=12&diverse=2&collection=family`),
      );
      const counts = new Map<unknown, number>();
      for (const r of two.results) counts.set(r.personId, (counts.get(r.personId) ?? 0) + 1);
      expect(Math.max(...counts.values())).toBeLessThanOrEqual(2);
      expect(Math.max(...counts.values())).toBe(2);
    });

    it('fold=true folds near-duplicates (same person, near-identical expression) into one result with a count', async () => {
      const q = querySubject();
      const all = faces.length - 1;
      const plain = await json<SimilarFacesResponse>(
        await app.request(`/faces/${q.id}/similar?k=${all}&collection=family`),
      );
      expect(plain.results).toHaveLength(all);
      const folded = await json<SimilarFacesResponse>(
        await app.request(`/faces/${q.id}/similar?k=${all}&collection=family&fold=true`),
      );
      // Every face is a result or folded into one, once.
      expect(folded.results.reduce((n, r) => n + r.folded!.count, 0)).toBe(all);
      const ids = folded.results.flatMap((r) => [r.id, ...r.folded!.faceIds]);
      expect(new Set(ids).size).toBe(all);
      // The scaled copies fold into their originals (or the other way round).
      expect(folded.results.length).toBeLessThan(all);
      const byId = new Map(faces.map((f) => [f.id, f]));
      for (const r of folded.results) {
        for (const id of r.folded!.faceIds) expect(byId.get(id)!.personId).toBe(r.personId);
      }
      const onlyFolded = await json<SimilarFacesResponse>(
        await app.request(`/faces/${q.id}/similar?k=10&person=${q.personId}&fold=true`),
      );
      expect(onlyFolded.results.reduce((n, r) => n + r.folded!.count, 0)).toBe(2);
      await expectError(await app.request(`/faces/${q.id}/similar?fold=yes`), 400, 'INVALID_QUERY');
    });

    it('POST /search/vector takes person and diverse; person=other needs the query identity', async () => {
      const q = querySubject();
      const model = await runtime.model();
      const [point] = await runtime.vectors.get(model.vectorCollection, [q.id]);
      const identity = (await runtime.metadata.identities.getByFaceIds([q.id])).get(q.id)!.descriptor;
      const vector = Array.from(point!.vector);
      const other = await json<VectorSearchResponse>(
        await postJson(app, '/search/vector', {
          vector,
          k: 10,
          filter: { collections: ['family'] },
          person: 'other',
          identity: Array.from(identity),
        }),
      );
      expect(other.results.some((r) => r.personId === q.personId)).toBe(false);
      const only = await json<VectorSearchResponse>(
        await postJson(app, '/search/vector', { vector, person: q.personId }),
      );
      expect(only.results.map((r) => r.id)).toContain(q.id);
      await expectError(
        await postJson(app, '/search/vector', {
          vector,
          filter: { collections: ['family'] },
          person: 'other',
        }),
        400,
        'QUERY_IDENTITY_UNAVAILABLE',
      );
    });

    it('answers bad input with 400/404 naming the reason', async () => {
      const q = querySubject();
      await expectError(await app.request(`/faces/${q.id}/similar?person=99999`), 404, 'PERSON_NOT_FOUND');
      const bare = await expectError(
        await app.request(`/faces/${q.id}/similar?person=other&collection=bare`),
        400,
        'IDENTITY_UNAVAILABLE',
      );
      expect(bare.message).toContain("'bare'");
      expect(bare.message).toContain('without identity descriptors');
      // Every collection is searched when none is named: one without descriptors is named.
      await expectError(await app.request(`/faces/${q.id}/similar?diverse=1`), 400, 'IDENTITY_UNAVAILABLE');
      await expectError(await app.request(`/faces/${q.id}/similar?person=me`), 400, 'INVALID_QUERY');
      await expectError(await app.request(`/faces/${q.id}/similar?diverse=0`), 400, 'INVALID_QUERY');
      await expectError(await app.request(`/faces/${q.id}/similar?diverse=many`), 400, 'INVALID_QUERY');
      const upload = readFileSync(photos.files[0]!);
      await expectError(
        await app.request('/search?person=other&collection=bare', jpeg(upload)),
        400,
        'IDENTITY_UNAVAILABLE',
      );
    });

    it('lists, shows (one row per expression), names and re-clusters people through the API', async () => {
      const list = await json<PersonListResponse>(await app.request('/collections/family/people?limit=100'));
      expect(list.total).toBe(new Set(faces.map((f) => f.personId)).size);
      expect(list.people.reduce((n, p) => n + p.faceCount, 0)).toBe(faces.length);
      const top = list.people[0]!;
      expect(faces.find((f) => f.id === top.coverFaceId)?.personId).toBe(top.id);
      const page2 = await json<PersonListResponse>(
        await app.request('/collections/family/people?limit=1&offset=1'),
      );
      expect(page2.people[0]!.id).toBe(list.people[1]!.id);

      const shown = await json<PersonDetailResponse>(await app.request(`/people/${top.id}?perExpression=1`));
      expect(shown.expressions.reduce((n, e) => n + e.count, 0)).toBe(top.faceCount);
      expect(shown.expressions.every((e) => e.faces.length === 1)).toBe(true);
      expect(new Set(shown.expressions.map((e) => e.label)).size).toBe(shown.expressions.length);

      const put = (id: number | string, body: unknown) =>
        app.request(`/people/${id}/name`, {
          method: 'PUT',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        });
      const named = await json<PersonSummaryResponse>(await put(top.id, { name: 'Grandma' }));
      expect(named).toMatchObject({ id: top.id, name: 'Grandma' });
      const again = await json<ClusteringResponse>(
        await app.request('/collections/family/people/cluster', { method: 'POST' }),
      );
      expect(again).toMatchObject({ people: list.total, kept: list.total, created: 0, retired: 0 });
      expect((await json<PersonDetailResponse>(await app.request(`/people/${top.id}`))).name).toBe('Grandma');

      const empty = await expectError(await put(top.id, { name: '' }), 400, 'INVALID_PERSON_NAME');
      expect(empty.message).toContain('1-200 characters');
      await expectError(await put(top.id, { name: '   ' }), 400, 'INVALID_PERSON_NAME');
      await expectError(await put(top.id, { name: 'x'.repeat(1000) }), 400, 'INVALID_PERSON_NAME');
      await expectError(await put(top.id, { nom: 'x' }), 400, 'INVALID_BODY');
      await expectError(await put(99999, { name: 'x' }), 404, 'PERSON_NOT_FOUND');
      await expectError(await app.request('/people/99999'), 404, 'PERSON_NOT_FOUND');
      await expectError(await app.request('/people/abc'), 400, 'INVALID_PATH');
      await expectError(await app.request('/collections/nope/people'), 404, 'COLLECTION_NOT_FOUND');
      await expectError(await app.request('/collections/bare/people'), 400, 'IDENTITY_UNAVAILABLE');
      await expectError(
        await app.request('/collections/bare/people/cluster', { method: 'POST' }),
        400,
        'IDENTITY_UNAVAILABLE',
      );
      await expectError(
        await postJson(app, '/collections/family/people/cluster', { threshold: 5 }),
        400,
        'INVALID_BODY',
      );
      const doc = await json<{ paths: Record<string, unknown> }>(await app.request('/openapi.json'));
      expect(Object.keys(doc.paths)).toEqual(
        expect.arrayContaining([
          '/collections/{name}/people',
          '/collections/{name}/people/cluster',
          '/people/{id}',
          '/people/{id}/name',
        ]),
      );
    });
  },
);
