/**
 * Every route through app.request (no port), on a real index: the face-api sample photos
 * embedded by the real encoder in an embedded-mode data dir (PGlite + on-disk vectors).
 */
import { readFileSync, realpathSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StartIndexRun } from '@fever/core';
import type {
  CollectionDetailResponse,
  ErrorResponse,
  FaceResponse,
  ImageResponse,
  IndexRunResponse,
  ModelListResponse,
  ReadyResponse,
  SearchResponse,
  SimilarFacesResponse,
  VectorSearchResponse,
} from '@fever/schema';
import { FINISHED_RUN_STATUSES } from '@fever/schema';
import pino from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp, type FeverApp } from './app.ts';
import { expectError, json } from './test-http.ts';
import { type Fixture, openFixture, writeStoredZip } from './testing.ts';

let fx: Fixture;
let app: FeverApp;
let photo6: Uint8Array<ArrayBuffer>; // never indexed
let photo1: Uint8Array<ArrayBuffer>; // indexed in `family`

beforeAll(async () => {
  fx = await openFixture({ template: inject('fixtureTemplate') });
  app = createApp(fx.runtime);
  photo1 = new Uint8Array(readFileSync(fx.photos[0]!));
  photo6 = new Uint8Array(readFileSync(fx.photos[5]!));
});
afterAll(async () => {
  await fx?.close();
});

const jpeg = (body: Uint8Array | string, headers: Record<string, string> = {}) => ({
  method: 'POST',
  body: body as RequestInit['body'],
  headers: { 'Content-Type': 'image/jpeg', ...headers },
});

function expectSortedBySimilarity(results: { similarity: number }[]) {
  for (let i = 1; i < results.length; i++) {
    expect(results[i - 1]!.similarity).toBeGreaterThanOrEqual(results[i]!.similarity);
  }
}

describe('health, readiness, metrics, models', () => {
  it('GET /healthz answers ok', async () => {
    const res = await app.request('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('GET /readyz checks database, vectors, queue and model', async () => {
    const res = await app.request('/readyz');
    const body = await json<ReadyResponse>(res);
    expect(res.status).toBe(200);
    expect(body.status).toBe('ready');
    expect(body.mode).toEqual({ metadata: 'pglite', vectors: 'embedded', queue: 'inprocess' });
    expect(Object.keys(body.checks).sort()).toEqual(['metadata', 'model', 'queue', 'vectors']);
    for (const check of Object.values(body.checks)) expect(check.ok).toBe(true);
  });

  it('GET /models names the active model and its labels', async () => {
    const body = await json<ModelListResponse>(await app.request('/models'));
    const active = body.models.find((m) => m.active)!;
    expect(active).toMatchObject({ id: 'fever-expression', dims: 512 });
    expect(active.labels).toContain('happy');
  });

  it('GET /metrics is Prometheus text with latency histograms, searches and encoder time', async () => {
    await app.request('/search?k=2', jpeg(photo6));
    await app.request(`/faces/${fx.faces[0]!.id}/similar?k=2`);
    const res = await app.request('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/fever_http_request_duration_seconds_bucket\{[^}]*route="\/search"/);
    expect(text).toMatch(/fever_http_request_duration_seconds_count\{[^}]*route="\/faces\/:id\/similar"/);
    expect(text).toMatch(/fever_searches_total\{kind="image",outcome="ok"\} [1-9]/);
    expect(text).toMatch(/fever_searches_total\{kind="face",outcome="ok"\} [1-9]/);
    expect(text).toMatch(/fever_encoder_duration_seconds_count\{stage="encode"\} [1-9]/);
    expect(text).toMatch(/fever_search_duration_seconds_bucket/);
    expect(text).toMatch(/fever_process_cpu_seconds_total/);
  });
});

describe('POST /search (by example photo)', () => {
  it('finds the faces of a new photo and their nearest indexed faces', async () => {
    const res = await app.request('/search?k=5', jpeg(photo6));
    expect(res.status).toBe(200);
    const body = await json<SearchResponse>(res);
    expect(body.image).toMatchObject({ width: 1920, height: 1537 });
    expect(body.faces).toHaveLength(1); // face=largest by default
    const [face] = body.faces;
    expect(face!.results).toHaveLength(5);
    expectSortedBySimilarity(face!.results);
    for (const r of face!.results) {
      expect(r.urls).toEqual({
        image: `images/${r.image.id}/file`,
        preview: `images/${r.image.id}/preview`,
        thumbnail: `faces/${r.id}/thumbnail`,
      });
      expect(Object.keys(r.probs)).toContain(r.label);
      expect(['family', 'travel']).toContain(r.collection);
    }
    expect(body.timings!.encodeMs).toBeGreaterThan(0);
    expect(body.tookMs).toBeGreaterThan(0);
  });

  it('takes multipart/form-data, face=all, and never answers a photo with its own faces', async () => {
    const form = new FormData();
    form.set('image', new Blob([photo1], { type: 'image/jpeg' }), 'sample1.jpg');
    const res = await app.request('/search?face=all&k=50', { method: 'POST', body: form });
    expect(res.status).toBe(200);
    const body = await json<SearchResponse>(res);
    const ownFaces = fx.faces.filter((f) => f.photo === fx.photos[0]);
    expect(body.faces).toHaveLength(ownFaces.length);
    const ownImage = ownFaces[0]!.imageId;
    for (const face of body.faces) {
      expect(face.results.length).toBeGreaterThan(0);
      for (const r of face.results) expect(r.image.id).not.toBe(ownImage);
    }
  });

  it('picks a face by index, and says when the index is out of range', async () => {
    const all = await json<SearchResponse>(await app.request('/search?face=all&k=1', jpeg(photo1)));
    const one = await json<SearchResponse>(await app.request('/search?face=1&k=1', jpeg(photo1)));
    expect(one.faces).toHaveLength(1);
    expect(one.faces[0]!.faceIndex).toBe(1);
    expect(one.faces[0]!.box).toEqual(all.faces[1]!.box);
    const err = await expectError(
      await app.request('/search?face=99', jpeg(photo1)),
      400,
      'FACE_INDEX_OUT_OF_RANGE',
    );
    expect(err.message).toContain('99');
  });

  it('filters by collection, label and detection score', async () => {
    const travel = await json<SearchResponse>(
      await app.request('/search?k=20&collection=travel', jpeg(photo6)),
    );
    const results = travel.faces[0]!.results;
    expect(results.length).toBeGreaterThan(0);
    expect(results.every((r) => r.collection === 'travel')).toBe(true);

    const happy = await json<SearchResponse>(await app.request('/search?k=20&label=happy', jpeg(photo6)));
    expect(happy.faces[0]!.results.length).toBeGreaterThan(0);
    expect(happy.faces[0]!.results.every((r) => r.label === 'happy')).toBe(true);

    const both = await json<SearchResponse>(
      await app.request('/search?k=20&collection=family&collection=travel&minScore=0.7', jpeg(photo6)),
    );
    expect(both.faces[0]!.results.every((r) => r.detectionScore >= 0.7)).toBe(true);
  });

  it('searches with the whole image when the detector finds no face, and says so', async () => {
    // A tight 48×48 grey face crop, as in FER2013: too small for the detector to find.
    const box = (await json<SearchResponse>(await app.request('/search?k=1', jpeg(photo6)))).faces[0]!.box;
    const crop = await sharp(photo6)
      .extract({
        left: Math.round(box.x),
        top: Math.round(box.y),
        width: Math.round(box.width),
        height: Math.round(box.height),
      })
      .resize(48, 48)
      .greyscale()
      .png()
      .toBuffer();
    const res = await app.request('/search?k=5', { ...jpeg(crop), headers: { 'Content-Type': 'image/png' } });
    expect(res.status).toBe(200);
    const body = await json<SearchResponse>(res);
    expect(body.faces).toHaveLength(1);
    expect(body.faces[0]!.source).toBe('whole-image');
    expect(body.faces[0]!.box).toEqual({ x: 0, y: 0, width: 48, height: 48 });
    expect(body.faces[0]!.results).toHaveLength(5);
    expectSortedBySimilarity(body.faces[0]!.results);
  });

  it('face=whole takes the whole photo as the face without detecting; detected faces say so', async () => {
    const whole = await json<SearchResponse>(await app.request('/search?k=3&face=whole', jpeg(photo6)));
    expect(whole.faces).toHaveLength(1);
    expect(whole.faces[0]!).toMatchObject({
      source: 'whole-image',
      box: { x: 0, y: 0, width: 1920, height: 1537 },
    });
    expect(whole.faces[0]!.results).toHaveLength(3);
    const detected = await json<SearchResponse>(await app.request('/search?k=1&face=all', jpeg(photo1)));
    expect(detected.faces.length).toBeGreaterThan(1);
    expect(detected.faces.every((f) => f.source === 'detected')).toBe(true);
  });

  it('paginates with offset', async () => {
    const all = await json<SearchResponse>(await app.request('/search?k=6', jpeg(photo6)));
    const page = await json<SearchResponse>(await app.request('/search?k=3&offset=3', jpeg(photo6)));
    expect(page.faces[0]!.results.map((r) => r.id)).toEqual(all.faces[0]!.results.slice(3).map((r) => r.id));
  });

  describe('refuses bad input with a 4xx that names the problem', () => {
    it('an empty body', async () => {
      await expectError(await app.request('/search', jpeg(new Uint8Array(0))), 400, 'EMPTY_BODY');
      await expectError(await app.request('/search', { method: 'POST' }), 400, 'EMPTY_BODY');
    });

    it('a 20 MB upload, over the limit (with and without Content-Length)', async () => {
      const big = new Uint8Array(20 * 1024 * 1024);
      big.set(photo6);
      const err = await expectError(
        await app.request('/search', jpeg(big, { 'Content-Length': String(big.length) })),
        413,
        'PAYLOAD_TOO_LARGE',
      );
      expect(err.message).toContain('FEVER_MAX_UPLOAD_BYTES');
      await expectError(await app.request('/search', jpeg(big)), 413, 'PAYLOAD_TOO_LARGE');
      const form = new FormData();
      form.set('image', new Blob([big], { type: 'image/jpeg' }), 'big.jpg');
      await expectError(
        await app.request('/search', { method: 'POST', body: form }),
        413,
        'PAYLOAD_TOO_LARGE',
      );
    });

    it('text posted as an image', async () => {
      const err = await expectError(
        await app.request('/search', jpeg('just some text, not a photo')),
        415,
        'IMAGE_UNSUPPORTED',
      );
      expect(err.message).toMatch(/not an image/);
      const form = new FormData();
      form.set('image', new Blob(['hello'], { type: 'text/plain' }), 'notes.txt');
      await expectError(
        await app.request('/search', { method: 'POST', body: form }),
        415,
        'IMAGE_UNSUPPORTED',
      );
    });

    it('a content type that is not an image, or none', async () => {
      const err = await expectError(
        await app.request('/search', {
          method: 'POST',
          body: 'hello',
          headers: { 'Content-Type': 'text/plain' },
        }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      );
      expect(err.message).toContain('text/plain');
      const res = await app.request('/search', { method: 'POST', body: new Blob([photo6]) });
      await expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    });

    it('a form without a file', async () => {
      const form = new FormData();
      form.set('k', '5');
      await expectError(await app.request('/search', { method: 'POST', body: form }), 400, 'IMAGE_MISSING');
    });

    it('a malformed multipart body', async () => {
      const res = await app.request('/search', {
        method: 'POST',
        body: 'not multipart at all',
        headers: { 'Content-Type': 'multipart/form-data; boundary=xyz' },
      });
      await expectError(res, 400, 'INVALID_MULTIPART');
    });

    it('a truncated JPEG', async () => {
      const res = await app.request('/search', jpeg(photo6.subarray(0, photo6.length / 2)));
      await expectError(res, 400, 'IMAGE_TRUNCATED');
    });

    it('an unknown collection', async () => {
      const err = await expectError(
        await app.request('/search?collection=nope', jpeg(photo6)),
        404,
        'COLLECTION_NOT_FOUND',
      );
      expect(err.message).toContain('nope');
    });

    it.each([
      ['k=0', 'k'],
      ['k=10000', 'k'],
      ['k=abc', 'k'],
      ['k=2.5', 'k'],
      ['offset=-1', 'offset'],
      ['minScore=2', 'minScore'],
      ['collection=Not%20OK', 'collection'],
      ['face=biggest', 'face'],
      ['kk=5', 'kk'],
    ])('the query parameter %s', async (query, field) => {
      const err = await expectError(
        await app.request(`/search?${query}`, jpeg(photo6)),
        400,
        'INVALID_QUERY',
      );
      expect(err.message).toContain(field);
    });

    it('a window past 1000 results', async () => {
      await expectError(await app.request('/search?k=500&offset=600', jpeg(photo6)), 400, 'INVALID_OFFSET');
    });
  });
});

describe('GET /faces/:id/similar (by indexed face)', () => {
  it('returns the face and its neighbours, never the face itself', async () => {
    const face = fx.faces[0]!;
    const res = await app.request(`/faces/${face.id}/similar?k=8`);
    expect(res.status).toBe(200);
    const body = await json<SimilarFacesResponse>(res);
    expect(body.face.id).toBe(face.id);
    expect(body.face.urls?.thumbnail).toBe(`faces/${face.id}/thumbnail`);
    expect(body.results).toHaveLength(8);
    expect(body.results.map((r) => r.id)).not.toContain(face.id);
    expectSortedBySimilarity(body.results);
  });

  it('paginates and filters', async () => {
    const id = fx.faces[2]!.id;
    const all = await json<SimilarFacesResponse>(await app.request(`/faces/${id}/similar?k=6`));
    const page = await json<SimilarFacesResponse>(await app.request(`/faces/${id}/similar?k=2&offset=2`));
    expect(page.results.map((r) => r.id)).toEqual(all.results.slice(2, 4).map((r) => r.id));
    const travel = await json<SimilarFacesResponse>(
      await app.request(`/faces/${id}/similar?k=50&collection=travel`),
    );
    expect(travel.results.length).toBe(fx.faces.filter((f) => f.collection === 'travel').length);
  });

  it('says what is wrong with a bad id, an unknown face, and bad parameters', async () => {
    await expectError(await app.request('/faces/not-a-uuid/similar'), 400, 'INVALID_PATH');
    await expectError(
      await app.request('/faces/00000000-0000-4000-8000-000000000000/similar'),
      404,
      'FACE_NOT_FOUND',
    );
    const id = fx.faces[0]!.id;
    await expectError(await app.request(`/faces/${id}/similar?k=0`), 400, 'INVALID_QUERY');
    await expectError(await app.request(`/faces/${id}/similar?k=10000`), 400, 'INVALID_QUERY');
    await expectError(await app.request(`/faces/${id}/similar?collection=nope`), 404, 'COLLECTION_NOT_FOUND');
  });
});

describe('POST /search/vector', () => {
  it('finds the face a vector came from first', async () => {
    const model = await fx.runtime.model();
    const face = fx.faces[4]!;
    const [point] = await fx.runtime.vectors.get(model.vectorCollection, [face.id]);
    const res = await app.request('/search/vector', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ vector: Array.from(point!.vector), k: 3 }),
    });
    expect(res.status).toBe(200);
    const body = await json<VectorSearchResponse>(res);
    expect(body.results[0]!.id).toBe(face.id);
    expect(body.results[0]!.similarity).toBeCloseTo(1, 4);
  });

  it('refuses a wrong-sized vector, a non-JSON body, bad JSON and no body', async () => {
    const post = (body: string, type = 'application/json') =>
      app.request('/search/vector', { method: 'POST', headers: { 'Content-Type': type }, body });
    await expectError(await post(JSON.stringify({ vector: [1, 2, 3] })), 400, 'VECTOR_DIMS_MISMATCH');
    await expectError(await post(JSON.stringify({ vector: [1], k: 0 })), 400, 'INVALID_BODY');
    await expectError(await post('{"vector": [1,'), 400, 'INVALID_JSON');
    await expectError(
      await post('vector=1', 'application/x-www-form-urlencoded'),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    await expectError(await post(''), 400, 'EMPTY_BODY');
  });
});

describe('faces and images', () => {
  it('GET /faces/:id', async () => {
    const face = fx.faces[1]!;
    const body = await json<FaceResponse>(await app.request(`/faces/${face.id}`));
    expect(body).toMatchObject({ id: face.id, collection: face.collection, faceIndex: face.faceIndex });
    expect(body.model.id).toBe('fever-expression');
    await expectError(
      await app.request('/faces/00000000-0000-4000-8000-000000000000'),
      404,
      'FACE_NOT_FOUND',
    );
  });

  it('GET /faces/:id/thumbnail renders a square JPEG crop once, then serves it from cache', async () => {
    const id = fx.faces[0]!.id;
    const res = await app.request(`/faces/${id}/thumbnail`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(await sharp(bytes).metadata()).toMatchObject({ format: 'jpeg', width: 160, height: 160 });
    const again = await app.request(`/faces/${id}/thumbnail`);
    expect(Buffer.from(await again.arrayBuffer()).equals(bytes)).toBe(true);
    const small = await app.request(`/faces/${id}/thumbnail?size=64`);
    expect(await sharp(Buffer.from(await small.arrayBuffer())).metadata()).toMatchObject({ width: 64 });
    const etag = res.headers.get('etag')!;
    expect((await app.request(`/faces/${id}/thumbnail`, { headers: { 'If-None-Match': etag } })).status).toBe(
      304,
    );
    await expectError(await app.request(`/faces/${id}/thumbnail?size=100`), 400, 'INVALID_QUERY');
    const metrics = await (await app.request('/metrics')).text();
    expect(metrics).toMatch(/fever_derived_images_total\{kind="face",source="rendered"\} [1-9]/);
    expect(metrics).toMatch(/fever_derived_images_total\{kind="face",source="memory"\} [1-9]/);
  });

  it('GET /images/:id lists its faces; /file serves the indexed bytes; /preview a JPEG', async () => {
    const face = fx.faces[0]!;
    const body = await json<ImageResponse>(await app.request(`/images/${face.imageId}`));
    expect(body.faces.map((f) => f.id)).toContain(face.id);
    expect(body.status).toBe('indexed');
    const file = await app.request(`/images/${face.imageId}/file`);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('image/jpeg');
    expect(Buffer.from(await file.arrayBuffer()).equals(readFileSync(face.photo))).toBe(true);
    const preview = await app.request(`/images/${face.imageId}/preview?size=640`);
    const meta = await sharp(Buffer.from(await preview.arrayBuffer())).metadata();
    expect(Math.max(meta.width, meta.height)).toBe(640);
  });

  it('never takes a path from the request, and says why a file cannot be served', async () => {
    await expectError(await app.request('/images/..%2F..%2Fetc%2Fpasswd/file'), 400, 'INVALID_PATH');
    await expectError(await app.request('/images/999999/file'), 404, 'IMAGE_NOT_FOUND');
    await expectError(await app.request('/images/abc'), 400, 'INVALID_PATH');
    const { metadata } = fx.runtime;
    const family = (await metadata.collections.get('family'))!;
    const moved = await metadata.images.upsert({
      collectionId: family.id,
      sha256: 'a'.repeat(64),
      uri: join(fx.dataDir, 'gone.jpg'),
      sizeBytes: 1,
    });
    const err = await expectError(
      await app.request(`/images/${moved.image.id}/file`),
      404,
      'IMAGE_FILE_UNAVAILABLE',
    );
    expect(err.message).toContain('no longer where it was indexed');
    const archived = await metadata.images.upsert({
      collectionId: family.id,
      sha256: 'b'.repeat(64),
      uri: '/data/photos.zip!/a/b.jpg',
      sizeBytes: 1,
    });
    const err2 = await expectError(
      await app.request(`/images/${archived.image.id}/preview`),
      404,
      'IMAGE_FILE_UNAVAILABLE',
    );
    expect(err2.message).toContain('archive');
  });
});

describe('collections', () => {
  it('lists, creates, shows and refuses duplicates and bad names', async () => {
    const list = await json<{ collections: { name: string }[] }>(await app.request('/collections'));
    expect(list.collections.map((c) => c.name)).toEqual(['family', 'travel']);
    const post = (body: unknown, type = 'application/json') =>
      app.request('/collections', {
        method: 'POST',
        headers: { 'Content-Type': type },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    const created = await post({ name: 'scratch', description: 'for the test' });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({
      name: 'scratch',
      description: 'for the test',
      identityDescriptors: true,
    });
    const bare = await post({ name: 'scratch-bare', identityDescriptors: false });
    expect(await bare.json()).toMatchObject({ name: 'scratch-bare', identityDescriptors: false });
    const shown = await json<CollectionDetailResponse>(await app.request('/collections/scratch-bare'));
    expect(shown).toMatchObject({ identityDescriptors: false, faces: 0, facesWithIdentity: 0 });
    await expectError(await post({ name: 'scratch-x', identityDescriptors: 'no' }), 400, 'INVALID_BODY');
    await expectError(await post({ name: 'scratch' }), 409, 'COLLECTION_EXISTS');
    const bad = await expectError(await post({ name: 'Bad Name' }), 400, 'INVALID_BODY');
    expect(bad.message).toContain('name');
    await expectError(await post({ name: 'x', extra: 1 }), 400, 'INVALID_BODY');
    await expectError(await post(''), 400, 'EMPTY_BODY');
    await expectError(await post('name=x', 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE');

    const family = await json<CollectionDetailResponse>(await app.request('/collections/family'));
    expect(family.faces).toBe(fx.faces.filter((f) => f.collection === 'family').length);
    expect(family.images.indexed).toBe(3);
    await expectError(await app.request('/collections/nope'), 404, 'COLLECTION_NOT_FOUND');
    await expectError(await app.request('/collections/NO%20PE'), 400, 'INVALID_PATH');
  });

  it('DELETE removes the collection, its metadata and its vectors', async () => {
    const model = await fx.runtime.model();
    const travelFaces = fx.faces.filter((f) => f.collection === 'travel');
    expect(await fx.runtime.vectors.count(model.vectorCollection, { collections: ['travel'] })).toBe(
      travelFaces.length,
    );
    const res = await app.request('/collections/travel', { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ name: 'travel', images: 2, faces: travelFaces.length });
    expect(await fx.runtime.vectors.count(model.vectorCollection, { collections: ['travel'] })).toBe(0);
    expect(await fx.runtime.metadata.faces.getByIds(travelFaces.map((f) => f.id))).toEqual([]);
    await expectError(await app.request(`/faces/${travelFaces[0]!.id}`), 404, 'FACE_NOT_FOUND');
    await expectError(
      await app.request('/search?collection=travel', jpeg(photo6)),
      404,
      'COLLECTION_NOT_FOUND',
    );
    const rest = await json<SearchResponse>(await app.request('/search?k=100', jpeg(photo6)));
    expect(rest.faces[0]!.results.every((r) => r.collection === 'family')).toBe(true);
    await expectError(
      await app.request('/collections/travel', { method: 'DELETE' }),
      404,
      'COLLECTION_NOT_FOUND',
    );
  });
});

describe('index runs', () => {
  it('refuses to start runs without FEVER_INDEX_ROOTS, and sources outside them', async () => {
    const body = JSON.stringify({ source: fx.dataDir, collection: 'family' });
    const post = (a: FeverApp, b = body) =>
      a.request('/runs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: b });
    await expectError(await post(app), 403, 'INDEX_RUNS_DISABLED');
    const rooted = createApp(fx.runtime, { indexRoots: [join(fx.dataDir, 'photos')] });
    await expectError(await post(rooted), 403, 'SOURCE_NOT_ALLOWED');
    await expectError(
      await post(
        rooted,
        JSON.stringify({ source: join(fx.dataDir, 'photos', '..', '..'), collection: 'family' }),
      ),
      403,
      'SOURCE_NOT_ALLOWED',
    );
    await expectError(
      await post(
        rooted,
        JSON.stringify({ source: join(fx.dataDir, 'photos', 'missing'), collection: 'family' }),
      ),
      404,
      'SOURCE_NOT_FOUND',
    );
    const relative = await expectError(
      await post(rooted, JSON.stringify({ source: 'photos', collection: 'family' })),
      400,
      'INVALID_BODY',
    );
    expect(relative.message).toBe('body source: must be an absolute path');
    await expectError(await post(rooted, JSON.stringify({ collection: 'family' })), 400, 'INVALID_BODY');
  });

  it('starts a run under a root, then shows it, lists it and streams its progress', async () => {
    const root = join(fx.dataDir, 'photos');
    await mkdir(join(root, 'batch1'), { recursive: true });
    await writeFile(join(root, 'batch1', 'x.jpg'), photo6);
    const calls: { source: string; collection: string }[] = [];
    const fake: StartIndexRun = async (runtime, options) => {
      calls.push(options);
      const model = await runtime.model();
      const collection = await runtime.metadata.collections.require(options.collection);
      const run = await runtime.metadata.indexRuns.create({
        collectionId: collection.id,
        modelId: model.id,
        modelVersion: model.version,
        source: options.source,
        status: 'running',
      });
      await runtime.metadata.indexRuns.addCounts(run.id, {
        imagesSeen: 1,
        imagesIndexed: 1,
        facesIndexed: 1,
      });
      await runtime.metadata.indexRuns.finish(run.id, { status: 'succeeded' });
      return { runId: run.id };
    };
    const rooted = createApp(fx.runtime, { indexRoots: [root], startIndexRun: fake });
    const res = await rooted.request('/runs', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ source: join(root, 'batch1'), collection: 'new-batch' }),
    });
    expect(res.status).toBe(202);
    const run = await json<IndexRunResponse>(res);
    expect(calls).toEqual([
      {
        source: join(root, 'batch1'),
        collection: 'new-batch',
        mode: 'missing',
        within: [realpathSync(root)],
      },
    ]);
    expect(run).toMatchObject({ collection: 'new-batch', source: join(root, 'batch1') });

    const got = await json<IndexRunResponse>(await app.request(`/runs/${run.id}`));
    expect(got.status).toBe('succeeded');
    expect(got.counts).toMatchObject({ imagesSeen: 1, imagesIndexed: 1, facesIndexed: 1 });
    const list = await json<{ runs: IndexRunResponse[] }>(await app.request('/runs?collection=new-batch'));
    expect(list.runs.map((r) => r.id)).toEqual([run.id]);

    const events = await app.request(`/runs/${run.id}/events`);
    expect(events.headers.get('content-type')).toMatch(/text\/event-stream/);
    const text = await events.text(); // the run is finished: one event, then the stream ends
    expect(text).toContain('event: run');
    expect(text).toContain('"status":"succeeded"');

    await expectError(await app.request('/runs/not-a-run'), 400, 'INVALID_PATH');
    await expectError(
      await app.request('/runs/00000000-0000-4000-8000-000000000000'),
      404,
      'INDEX_RUN_NOT_FOUND',
    );
    await expectError(await app.request('/runs?status=done'), 400, 'INVALID_QUERY');
  });
});

describe('index runs with the real indexer', () => {
  it('indexes a folder and a zip under a root; the faces are searchable and their files served', async () => {
    const root = join(fx.dataDir, 'incoming');
    await mkdir(join(root, 'shoot'), { recursive: true });
    await writeFile(join(root, 'shoot', 'six.jpg'), photo6);
    await writeStoredZip(join(root, 'album.zip'), [
      { name: 'pics/two.jpg', bytes: readFileSync(fx.photos[1]!) },
    ]);
    const rooted = createApp(fx.runtime, { indexRoots: [root] });
    const start = async (source: string) => {
      const res = await rooted.request('/runs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ source, collection: 'incoming', batch: 2 }),
      });
      expect(res.status).toBe(202);
      return json<IndexRunResponse>(res);
    };
    const finish = async (id: string) => {
      for (let i = 0; i < 600; i++) {
        const run = await json<IndexRunResponse>(await rooted.request(`/runs/${id}`));
        if ((FINISHED_RUN_STATUSES as readonly string[]).includes(run.status)) return run;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`run ${id} did not finish`);
    };
    const folder = await finish((await start(join(root, 'shoot'))).id);
    expect(folder).toMatchObject({ status: 'succeeded', collection: 'incoming' });
    expect(folder.counts.imagesIndexed).toBe(1);
    const zip = await finish((await start(join(root, 'album.zip'))).id);
    expect(zip.status).toBe('succeeded');
    expect(zip.counts.facesIndexed).toBeGreaterThan(0);

    // Both photos' faces answer a search limited to the new collection.
    const found = await json<SearchResponse>(
      await rooted.request('/search?k=50&collection=incoming', jpeg(photo1)),
    );
    const results = found.faces[0]!.results;
    expect(results.length).toBe(folder.counts.facesIndexed + zip.counts.facesIndexed);
    // The zip member is served from inside the archive; its crop is rendered from it.
    const fromZip = results.find((r) => r.image.uri.includes('album.zip!/'))!;
    expect(fromZip.image.uri).toBe(`${join(root, 'album.zip')}!/pics/two.jpg`);
    const file = await rooted.request(`/images/${fromZip.image.id}/file`);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('image/jpeg');
    expect(Buffer.from(await file.arrayBuffer()).equals(readFileSync(fx.photos[1]!))).toBe(true);
    const crop = await rooted.request(`/faces/${fromZip.id}/thumbnail?size=96`);
    expect(await sharp(Buffer.from(await crop.arrayBuffer())).metadata()).toMatchObject({
      width: 96,
      height: 96,
    });

    // A list of paths could name files anywhere: the API refuses it.
    await writeFile(join(root, 'list.txt'), '/etc/passwd\n');
    const list = await rooted.request('/runs', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ source: join(root, 'list.txt'), collection: 'incoming' }),
    });
    await expectError(list, 403, 'SOURCE_NOT_ALLOWED');
  });
});

describe('eval runs', () => {
  it('refuses without roots; 404 for unknown runs', async () => {
    const res = await app.request('/eval/fec', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ triplets: '/tmp/fec.csv' }),
    });
    await expectError(res, 403, 'INDEX_RUNS_DISABLED');
    await expectError(
      await app.request('/eval/runs/00000000-0000-4000-8000-000000000000'),
      404,
      'EVAL_RUN_NOT_FOUND',
    );
    await expectError(
      await app.request('/eval/runs/00000000-0000-4000-8000-000000000000/report.html'),
      404,
      'EVAL_RUN_NOT_FOUND',
    );
    const list = await json<{ runs: unknown[] }>(await app.request('/eval/runs'));
    expect(Array.isArray(list.runs)).toBe(true);
  });
});

describe('an FEC evaluation through the API', () => {
  it('runs in the background, stores its metrics, and serves its HTML report', async () => {
    // A small FEC-format CSV over the indexed faces: boxes as fractions, six annotators.
    const root = join(fx.dataDir, 'fec');
    await mkdir(join(root, 'images'), { recursive: true });
    const byPhoto = new Map<string, typeof fx.faces>();
    // `travel` was deleted above: its photos are gone from the index.
    for (const f of fx.faces.filter((x) => x.collection === 'family')) {
      byPhoto.set(f.photo, [...(byPhoto.get(f.photo) ?? []), f]);
    }
    const boxes = [];
    for (const [photo, faces] of byPhoto) {
      const name = photo.split('/').pop()!;
      await writeFile(join(root, 'images', name), readFileSync(photo));
      const image = await json<ImageResponse>(await app.request(`/images/${faces[0]!.imageId}`));
      for (const f of image.faces) {
        const { x, y, width, height } = f.box;
        const w = image.width!;
        const h = image.height!;
        boxes.push(
          [`https://example.org/fec/${name}`, x / w, (x + width) / w, y / h, (y + height) / h].join(','),
        );
      }
    }
    const lines = [];
    for (let i = 0; i + 2 < boxes.length; i++) {
      const answer = (i % 3) + 1;
      const votes = Array.from({ length: 6 }, (_, a) => `ann${a},${a < 4 ? answer : (answer % 3) + 1}`);
      lines.push([boxes[i], boxes[i + 1], boxes[i + 2], 'ONE_CLASS_TRIPLET', ...votes].join(','));
    }
    await writeFile(join(root, 'triplets.csv'), `${lines.join('\n')}\n`);

    const rooted = createApp(fx.runtime, { indexRoots: [root] });
    const outside = await rooted.request('/eval/fec', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ triplets: '/etc/hosts' }),
    });
    await expectError(outside, 403, 'SOURCE_NOT_ALLOWED');
    const res = await rooted.request('/eval/fec', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        triplets: join(root, 'triplets.csv'),
        images: join(root, 'images'),
        bootstrapSamples: 20,
      }),
    });
    expect(res.status).toBe(202);
    const queued = await json<{ id: string; status: string; urls: { report: string } }>(res);
    let run: { status: string; metrics: Record<string, unknown> | null; error: unknown } | undefined;
    for (let i = 0; i < 1200; i++) {
      run = await json(await rooted.request(`/eval/runs/${queued.id}`));
      if (!['queued', 'running'].includes(run!.status)) break;
      if (i === 0) {
        const early = await rooted.request(`/eval/runs/${queued.id}/report.html`);
        if (early.status !== 200) await expectError(early, 409, 'EVAL_RUN_NOT_FINISHED');
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(run, JSON.stringify(run)).toMatchObject({ status: 'succeeded', error: null });
    expect(JSON.stringify(run!.metrics)).toContain('accuracy');
    const report = await rooted.request(`/${queued.urls.report}`);
    expect(report.status).toBe(200);
    expect(report.headers.get('content-type')).toMatch(/text\/html/);
    expect(await report.text()).toMatch(/<html/i);
    const list = await json<{ runs: { id: string }[] }>(await rooted.request('/eval/runs?status=succeeded'));
    expect(list.runs.map((r) => r.id)).toContain(queued.id);
  });
});

describe('security and plumbing', () => {
  it('requires the bearer token everywhere but health and the page shell', async () => {
    const guarded = createApp(fx.runtime, { apiToken: 's3cret-token' });
    const missing = await guarded.request('/collections');
    await expectError(missing, 401, 'UNAUTHORIZED');
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    await expectError(
      await guarded.request('/collections', { headers: { Authorization: 'Bearer wrong' } }),
      401,
      'INVALID_TOKEN',
    );
    await expectError(
      await guarded.request('/collections', { headers: { Authorization: 'Basic czNjcmV0LXRva2Vu' } }),
      401,
      'INVALID_TOKEN',
    );
    await expectError(await guarded.request('/search', jpeg(photo6)), 401, 'UNAUTHORIZED');
    await expectError(await guarded.request('/openapi.json'), 401, 'UNAUTHORIZED');
    await expectError(await guarded.request('/metrics'), 401, 'UNAUTHORIZED');
    await expectError(await guarded.request(`/faces/${fx.faces[0]!.id}/thumbnail`), 401, 'UNAUTHORIZED');
    const ok = await guarded.request('/collections', { headers: { Authorization: 'Bearer s3cret-token' } });
    expect(ok.status).toBe(200);
    for (const path of ['/healthz', '/readyz', '/', '/docs', '/assets/app.js']) {
      expect((await guarded.request(path)).status, path).toBe(200);
    }
  });

  it('sends CORS headers only for the configured origins', async () => {
    const preflight = (a: FeverApp, origin: string) =>
      a.request('/search', {
        method: 'OPTIONS',
        headers: { Origin: origin, 'Access-Control-Request-Method': 'POST' },
      });
    expect((await preflight(app, 'https://a.example')).headers.get('access-control-allow-origin')).toBeNull();
    const open = createApp(fx.runtime, { corsOrigins: ['https://a.example'], apiToken: 't' });
    const res = await preflight(open, 'https://a.example');
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://a.example');
    expect(res.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    expect(
      (await preflight(open, 'https://evil.example')).headers.get('access-control-allow-origin'),
    ).toBeNull();
  });

  it('gives every response a request id, keeps a sane incoming one, and logs one line per request', async () => {
    const lines: Record<string, unknown>[] = [];
    const captured = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const logged = createApp({ ...fx.runtime, logger: captured });
    const res = await logged.request('/healthz', { headers: { 'X-Request-Id': 'trace-123' } });
    expect(res.headers.get('x-request-id')).toBe('trace-123');
    const fresh = await app.request('/healthz');
    expect(fresh.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(lines).toContainEqual(
      expect.objectContaining({
        reqId: 'trace-123',
        method: 'GET',
        route: '/healthz',
        status: 200,
        msg: 'request',
      }),
    );
  });

  it('answers unknown routes with the error shape', async () => {
    await expectError(await app.request('/nope'), 404, 'ROUTE_NOT_FOUND');
    // A path served under other methods: 405 with Allow (see "answers conform to the document").
    await expectError(await app.request('/collections', { method: 'PUT' }), 405, 'METHOD_NOT_ALLOWED');
  });

  it('never answers garbage with a 500', async () => {
    const cases: [string, RequestInit?][] = [
      ['/search?k=', jpeg(photo6)],
      ['/search?face=-1', jpeg(photo6)],
      [
        '/search',
        {
          method: 'POST',
          body: new Uint8Array([0xff, 0xd8, 0xff, 0, 1, 2]),
          headers: { 'Content-Type': 'image/jpeg' },
        },
      ],
      [
        '/search',
        {
          method: 'POST',
          body: '<svg xmlns="http://www.w3.org/2000/svg"/>',
          headers: { 'Content-Type': 'image/svg+xml' },
        },
      ],
      ['/search/vector', { method: 'POST', body: 'null', headers: { 'Content-Type': 'application/json' } }],
      [
        '/search/vector',
        { method: 'POST', body: '{"vector":[null]}', headers: { 'Content-Type': 'application/json' } },
      ],
      [
        '/search/vector',
        {
          method: 'POST',
          body: `{"vector":[${'1e999,'.repeat(255)}1]}`,
          headers: { 'Content-Type': 'application/json' },
        },
      ],
      ['/faces/%00/similar'],
      ['/faces/00000000-0000-4000-8000-000000000000/thumbnail'],
      ['/images/0'],
      ['/images/99999999999999999999'],
      ['/collections/%252e%252e'],
      ['/runs/%27%20OR%201=1'],
      ['/eval/runs/x/report.html'],
    ];
    for (const [path, init] of cases) {
      const res = await app.request(path, init);
      expect(res.status, `${path} → ${res.status}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `${path} → ${res.status}`).toBeLessThan(500);
      expect(((await res.json()) as ErrorResponse).error.code).toMatch(/^[A-Z][A-Z0-9_]+$/);
    }
  });
});

describe('OpenAPI document, API reference and page', () => {
  it('/openapi.json documents every route the app serves, from the zod schemas', async () => {
    const doc = (await (await app.request('/openapi.json')).json()) as {
      openapi: string;
      paths: Record<
        string,
        Record<string, { parameters?: { name: string; schema: Record<string, unknown> }[] }>
      >;
      components: { schemas: Record<string, unknown> };
    };
    expect(doc.openapi).toBe('3.1.0');
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) =>
        Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
      ),
    );
    const served = app.routes
      .filter((r) => r.method !== 'ALL' && !r.path.startsWith('/assets/'))
      .map((r) => `${r.method} ${r.path}`);
    expect(served.length).toBeGreaterThan(20);
    for (const route of served) expect(documented, route).toContain(route);
    const k = doc.paths['/search']!.post!.parameters!.find((p) => p.name === 'k')!;
    expect(k.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 1000, default: 10 });
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(['FaceResult', 'SearchResponse', 'ErrorResponse', 'Collection']),
    );
  });

  // What the schemathesis run (docs/BENCHMARKS.md, "OpenAPI fuzz run") found: each is a way the
  // document and the answers disagreed.
  describe('answers conform to the document', () => {
    type Doc = {
      paths: Record<
        string,
        Record<
          string,
          {
            parameters?: { name: string; schema: Record<string, unknown> }[];
            responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
          }
        >
      >;
      components: { schemas: Record<string, Record<string, unknown>> };
    };
    let doc: Doc;
    beforeAll(async () => {
      doc = (await (await app.request('/openapi.json')).json()) as Doc;
    });

    it('a method a path does not serve is 405 with Allow, not 404', async () => {
      const patch = await app.request('/collections', { method: 'PATCH' });
      await expectError(patch, 405, 'METHOD_NOT_ALLOWED');
      expect(patch.headers.get('allow')).toBe('GET, HEAD, POST');
      const put = await app.request(`/faces/${fx.faces[0]!.id}`, { method: 'PUT' });
      await expectError(put, 405, 'METHOD_NOT_ALLOWED');
      expect(put.headers.get('allow')).toBe('GET, HEAD');
      expect((await app.request('/search', { method: 'GET' })).headers.get('allow')).toBe('POST');
      await expectError(await app.request('/nowhere', { method: 'PATCH' }), 404, 'ROUTE_NOT_FOUND');
      await expectError(await app.request('/healthz/extra'), 404, 'ROUTE_NOT_FOUND');
    });

    it('lists the thumbnail and preview sizes it accepts', async () => {
      const size = (path: string) => doc.paths[path]!.get!.parameters!.find((p) => p.name === 'size')!.schema;
      expect(size('/images/{id}/preview')).toMatchObject({
        enum: ['320', '640', '960', '1280', '1600', '2048'],
        default: '1280',
      });
      expect(size('/faces/{id}/thumbnail')).toMatchObject({ enum: expect.arrayContaining(['64', '512']) });
      const face = fx.faces[0]!;
      expect((await app.request(`/images/${face.imageId}/preview?size=320`)).status).toBe(200);
      await expectError(await app.request(`/images/${face.imageId}/preview?size=321`), 400, 'INVALID_QUERY');
    });

    it('says that server paths are absolute and that an FEC run needs images or map', () => {
      const { schemas } = doc.components;
      const props = (id: string) => schemas[id]!.properties as Record<string, Record<string, unknown>>;
      expect(props('StartIndexRunRequest').source).toMatchObject({ pattern: '^\\/' });
      const fec = Object.entries(schemas).find(([, s]) => 'triplets' in ((s.properties as object) ?? {}))![1];
      expect((fec.properties as Record<string, Record<string, unknown>>).images).toMatchObject({
        pattern: '^\\/',
      });
      expect(fec.anyOf).toEqual([{ required: ['images'] }, { required: ['map'] }]);
      // A person's name: the rule the people use case enforces (INVALID_PERSON_NAME).
      const rename = Object.entries(schemas).find(([id]) => /rename|PutPeople/i.test(id))?.[1] ?? {};
      expect(JSON.stringify(rename)).toContain('"minLength":1');
      expect(JSON.stringify(rename)).toContain('"maxLength":200');
    });

    it('documents the 404 of an unknown collection filter, and every error as ErrorResponse', async () => {
      await expectError(await app.request('/runs?collection=nope'), 404, 'COLLECTION_NOT_FOUND');
      await expectError(
        await app.request('/search?collection=nope', jpeg(photo6)),
        404,
        'COLLECTION_NOT_FOUND',
      );
      // The clustering's body may be left out (its fields have defaults): not a required body.
      const cluster = doc.paths['/collections/{name}/people/cluster']!.post! as {
        requestBody?: { required?: boolean };
      };
      expect(cluster.requestBody?.required).toBe(false);
      expect(Object.keys(doc.paths['/runs']!.get!.responses)).toContain('404');
      expect(Object.keys(doc.paths['/search']!.post!.responses)).toContain('404');
      expect(Object.keys(doc.paths['/search/vector']!.post!.responses)).toContain('404');
      for (const [path, ops] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(ops)) {
          for (const [status, res] of Object.entries(op.responses)) {
            // Every error has a JSON body (readiness answers 503 with its checks).
            if (Number(status) >= 400)
              expect(res.content?.['application/json']?.schema?.$ref, `${method} ${path} ${status}`).toMatch(
                /^#\/components\/schemas\//,
              );
          }
        }
      }
      expect(doc.paths['/runs']!.post!.responses['403']!.content!['application/json']!.schema!.$ref).toBe(
        '#/components/schemas/ErrorResponse',
      );
    });
  });

  it('serves the page and the API reference self-contained: nothing from another origin', async () => {
    for (const path of ['/', '/docs', '/assets/app.js', '/assets/docs.js', '/assets/app.css']) {
      const res = await app.request(path);
      expect(res.status, path).toBe(200);
      const text = await res.text();
      expect(text, path).not.toMatch(/(src|href)=["']?(https?:)?\/\//);
      expect(text, path).not.toMatch(/import\s.*from\s+['"]https?:/);
      expect(text, path).not.toMatch(/fetch\(['"`]https?:/);
    }
    const page = await app.request('/');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'");
    const etag = page.headers.get('etag')!;
    expect((await app.request('/', { headers: { 'If-None-Match': etag } })).status).toBe(304);
  });
});
