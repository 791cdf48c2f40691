/**
 * Searches follow the model alias: a server whose encoder is a new model version answers with
 * the version the alias points at (the newest whose index run completed) until the new version's
 * re-index completes, then with the new one, without a restart and without a failed request.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  createLogger,
  openRuntime,
  type ServingRuntime,
  startIndexRun,
  stopIndexing,
  waitForRun,
} from '@fever/core';
import { FACE_API_EXPRESSION_MANIFEST } from '@fever/encoder';
import { samplePhotos } from '@fever/encoder/testing';
import type {
  ErrorResponse,
  IndexRunResponse,
  ModelListResponse,
  ReadyResponse,
  SearchResponse,
  VectorSearchResponse,
} from '@fever/schema';
import { parseConfig } from '@fever/schema';
import { modelAliasName, modelCollectionName } from '@fever/vectors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type FeverApp } from './app.ts';

const quiet = createLogger('silent');
const manifest = JSON.parse(readFileSync(FACE_API_EXPRESSION_MANIFEST, 'utf8')) as {
  id: string;
  version: string;
  file: string;
  labels: string[];
};
const v1 = manifest.version;
const v2 = `${manifest.version}-alias-test`;

/** A process on face-api's own network (fever's first default) unless env names another model. */
function configFor(dataDir: string, env: Record<string, string> = {}) {
  return parseConfig({
    FEVER_DATA_DIR: dataDir,
    FEVER_LOG_LEVEL: 'silent',
    FEVER_DEVICE: 'cpu',
    FEVER_MODEL: FACE_API_EXPRESSION_MANIFEST,
    ...env,
  });
}

/** face-api's weights under a changed manifest (another version, id or alias), beside a copy of the model. */
function writeModel(dir: string, changes: Record<string, string>): string {
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(dirname(FACE_API_EXPRESSION_MANIFEST), manifest.file), join(dir, manifest.file));
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, ...changes }));
  return join(dir, 'manifest.json');
}

/**
 * Copies the first `count` sample photos under `root/photos` and indexes them into collection
 * `people` with face-api's network (version 1): the alias then points at its collection.
 */
async function indexWithFaceApi(root: string, count: number): Promise<string> {
  const photos = join(root, 'photos');
  mkdirSync(photos);
  for (const photo of samplePhotos().slice(0, count))
    copyFileSync(photo, join(photos, photo.split('/').at(-1)!));
  const first = await openRuntime(configFor(join(root, 'data')), { logger: quiet });
  try {
    const { runId } = await startIndexRun(first, { source: photos, collection: 'people' });
    expect((await waitForRun(first, runId)).status).toBe('succeeded');
  } finally {
    await stopIndexing(first);
    await first.close();
  }
  return photos;
}

describe('a server on a new model version', () => {
  let root: string;
  let photos: string;
  let runtime: ServingRuntime;
  let app: FeverApp;
  const example = new Uint8Array(readFileSync(samplePhotos()[5]!)); // never indexed

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fever-alias-'));
    photos = await indexWithFaceApi(root, 5);
    runtime = await openRuntime(
      configFor(join(root, 'data'), { FEVER_MODEL: writeModel(join(root, 'v2'), { version: v2 }) }),
      { logger: quiet },
    );
    app = createApp(runtime, { indexRoots: [root] });
  });
  afterAll(async () => {
    await stopIndexing(runtime);
    await runtime?.close();
    rmSync(root, { recursive: true, force: true });
  });

  /** One search by upload: the version that answered and the ids of the largest face's neighbours. */
  async function search(): Promise<{ version: string; ids: string[] }> {
    const res = await app.request('/search?k=50', {
      method: 'POST',
      body: example,
      headers: { 'Content-Type': 'image/jpeg' },
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const body = (await res.json()) as SearchResponse;
    return { version: body.model.version, ids: body.faces[0]!.results.map((r) => r.id) };
  }

  async function runStatus(id: string): Promise<string> {
    const res = await app.request(`/runs/${id}`);
    expect(res.status).toBe(200);
    return ((await res.json()) as IndexRunResponse).status;
  }

  it('answers with the aliased version during the re-index, then with the new one; no request fails', async () => {
    const before = await search();
    expect(before.version).toBe(v1);
    expect(before.ids.length).toBeGreaterThan(5);
    const models = (await (await app.request('/models')).json()) as ModelListResponse;
    expect(models.models.find((m) => m.active)?.version).toBe(v1);

    // The server's own version re-indexes the collection into its own (half-filled, meanwhile) collection.
    const started = await app.request('/runs', {
      method: 'POST',
      body: JSON.stringify({ source: photos, collection: 'people', batch: 1 }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(started.status).toBe(202);
    const run = (await started.json()) as IndexRunResponse;
    expect(run.model.version).toBe(v2);

    let duringRun = 0;
    for (;;) {
      const statusBefore = await runStatus(run.id);
      if (statusBefore !== 'running') break;
      const answer = await search();
      if ((await runStatus(run.id)) === 'running') {
        // Asked and answered while the new version's collection was still filling.
        expect(answer).toEqual(before);
        duringRun++;
      }
    }
    expect(await runStatus(run.id)).toBe('succeeded');
    expect(duringRun, 'searches answered during the re-index').toBeGreaterThan(0);
    expect(await runtime.vectors.getAlias(modelAliasName(manifest.id))).toBe(
      modelCollectionName(manifest.id, v2),
    );

    // The alias has moved: within moments the server answers with the new version, complete.
    const deadline = Date.now() + 30_000;
    let after = await search();
    while (after.version === v1 && Date.now() < deadline) {
      expect(after).toEqual(before);
      after = await search();
    }
    expect(after.version).toBe(v2);
    expect(after.ids.length).toBe(before.ids.length);
    const faces = await runtime.metadata.faces.getByIds(after.ids);
    expect(faces.every((f) => f.modelVersion === v2)).toBe(true);
    expect(new Set(after.ids).size).toBe(after.ids.length);
    expect(after.ids.some((id) => before.ids.includes(id))).toBe(false);

    // Every route that names the version names the new one.
    const byVector = await app.request('/search/vector', {
      method: 'POST',
      body: JSON.stringify({ vector: Array.from({ length: 256 }, (_, i) => Math.sin(i)), k: 3 }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(((await byVector.json()) as VectorSearchResponse).model.version).toBe(v2);
    const similar = await app.request(`/faces/${after.ids[0]}/similar?k=3`);
    expect(similar.status).toBe(200);
    const active = (await (await app.request('/models')).json()) as ModelListResponse;
    expect(active.models.find((m) => m.active)?.version).toBe(v2);
  });
});

describe('a server whose aliased version cannot be loaded', () => {
  let root: string;
  let runtime: ServingRuntime;
  let app: FeverApp;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fever-alias-gone-'));
    const dataDir = join(root, 'data');
    // A version indexed elsewhere, from a manifest that is not here: the alias points at it.
    const setup = await openRuntime(configFor(dataDir), { logger: quiet });
    const own = await setup.model();
    const gone = { id: own.id, version: 'gone-1', dims: own.dims, labels: own.labels };
    await setup.metadata.models.register({ ...gone, manifestPath: join(root, 'nowhere', 'manifest.json') });
    const collection = modelCollectionName(gone.id, gone.version);
    await setup.vectors.ensureCollection({ name: collection, dims: gone.dims, distance: 'cosine' });
    await setup.vectors.swapAlias(own.alias, collection);
    await setup.close();
    runtime = await openRuntime(configFor(dataDir), { logger: quiet });
    app = createApp(runtime);
  });
  afterAll(async () => {
    await runtime?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('refuses searches (503 MODEL_UNAVAILABLE) rather than answer from its own collection, and is not ready', async () => {
    const upload = await app.request('/search', {
      method: 'POST',
      body: new Uint8Array(readFileSync(samplePhotos()[0]!)),
      headers: { 'Content-Type': 'image/jpeg' },
    });
    expect(upload.status).toBe(503);
    const error = ((await upload.json()) as ErrorResponse).error;
    expect(error.code).toBe('MODEL_UNAVAILABLE');
    expect(error.message).toContain('gone-1');
    expect(error.message).toContain(join(root, 'nowhere', 'manifest.json'));
    const byVector = await app.request('/search/vector', {
      method: 'POST',
      body: JSON.stringify({ vector: Array.from({ length: 256 }, () => 1), k: 3 }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(byVector.status).toBe(503);
    const ready = await app.request('/readyz');
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as ReadyResponse).checks.model).toMatchObject({ ok: false });
  });
});

describe('a server on a model that replaces another (its manifest names the other alias)', () => {
  let root: string;
  let photos: string;
  let runtime: ServingRuntime;
  let app: FeverApp;
  const example = new Uint8Array(readFileSync(samplePhotos()[5]!));

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fever-alias-replaces-'));
    photos = await indexWithFaceApi(root, 3);
    // Another model id, the same weights: the replacement shares the old default's alias.
    const replacement = writeModel(join(root, 'replacement'), {
      id: 'replacement',
      version: '1',
      alias: manifest.id,
    });
    runtime = await openRuntime(configFor(join(root, 'data'), { FEVER_MODEL: replacement }), {
      logger: quiet,
    });
    app = createApp(runtime, { indexRoots: [root] });
  });
  afterAll(async () => {
    await stopIndexing(runtime);
    await runtime?.close();
    rmSync(root, { recursive: true, force: true });
  });

  async function searchModel(): Promise<{ id: string; version: string; results: number }> {
    const res = await app.request('/search?k=20', {
      method: 'POST',
      body: example,
      headers: { 'Content-Type': 'image/jpeg' },
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const body = (await res.json()) as SearchResponse;
    return { ...body.model, results: body.faces[0]!.results.length };
  }

  it("answers from the replaced model's index until its own re-index completes, then from its own", async () => {
    const before = await searchModel();
    expect(before).toMatchObject({ id: manifest.id, version: v1 });
    expect(before.results).toBeGreaterThan(0);

    const started = await app.request('/runs', {
      method: 'POST',
      body: JSON.stringify({ source: photos, collection: 'people', mode: 'all' }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(started.status).toBe(202);
    const run = (await started.json()) as IndexRunResponse;
    expect(run.model).toMatchObject({ id: 'replacement', version: '1' });
    expect((await waitForRun(runtime, run.id)).status).toBe('succeeded');
    expect(await runtime.vectors.getAlias(modelAliasName(manifest.id))).toBe(
      modelCollectionName('replacement', '1'),
    );

    const deadline = Date.now() + 30_000;
    let after = await searchModel();
    while (after.id !== 'replacement' && Date.now() < deadline) after = await searchModel();
    expect(after).toEqual({ id: 'replacement', version: '1', results: before.results });
  });
});
