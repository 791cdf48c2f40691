/**
 * What the API may read and serve (docs/SECURITY.md), through app.request on a real index: runs
 * started with POST /runs under FEVER_INDEX_ROOTS and the real indexer, then files swapped,
 * linked and corrupted behind fever's back.
 */
import { readFileSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CollectionDetailResponse, ImageResponse, IndexRunResponse } from '@fever/schema';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp, type FeverApp } from './app.ts';
import { expectError, json, postJson, untilFinished } from './test-http.ts';
import { type Fixture, openFixture, writeStoredZip } from './testing.ts';

let fx: Fixture;
let app: FeverApp;
let root: string;
let outside: string;
let photo1: Buffer;
let photo6: Buffer;
const SECRET = 'top secret: never served\n';

beforeAll(async () => {
  fx = await openFixture({ template: inject('fixtureTemplate') });
  root = join(fx.dataDir, 'roots');
  outside = join(fx.dataDir, 'outside');
  await mkdir(root);
  await mkdir(outside);
  photo1 = readFileSync(fx.photos[0]!);
  photo6 = readFileSync(fx.photos[5]!);
  await writeFile(join(outside, 'secret.txt'), SECRET);
  await writeFile(join(outside, 'face.jpg'), photo6);
  await writeFile(join(outside, 'copy-of-photo1.jpg'), photo1);
  app = createApp(fx.runtime, { indexRoots: [root] });
});
afterAll(async () => {
  await fx?.close();
});

/** Indexes `source` (under the root) into `collection` with the real indexer; the finished run. */
async function index(source: string, collection: string): Promise<IndexRunResponse> {
  const res = await postJson(app, '/runs', { source, collection });
  expect(res.status, await res.clone().text()).toBe(202);
  const { id } = await json<IndexRunResponse>(res);
  return untilFinished<IndexRunResponse>(app, `/runs/${id}`);
}

/** The ledger of a run: outcome, error code and image id by uri. */
async function ledger(runId: string) {
  const entries = await fx.runtime.metadata.indexing.listEntries(runId, { limit: 1000 });
  return new Map(entries.map((e) => [e.uri, e]));
}

describe('served files', () => {
  it('are served only while their bytes hash to the stored sha256 and no link leads out of the roots', async () => {
    const dir = join(root, 'swap');
    await mkdir(dir);
    const file = join(dir, 'a.jpg');
    await writeFile(file, photo1);
    const run = await index(dir, 'swap');
    expect(run.counts.imagesIndexed).toBe(1);
    const imageId = (await ledger(run.id)).get(file)!.imageId!;
    const image = await json<ImageResponse>(await app.request(`/images/${imageId}`));
    const faceId = image.faces[0]!.id;
    const ok = await app.request(`/images/${imageId}/file`);
    expect(Buffer.from(await ok.arrayBuffer()).equals(photo1)).toBe(true);

    const refused = async () => {
      for (const path of [`/images/${imageId}/file`, `/images/${imageId}/preview?size=320`]) {
        const res = await app.request(path);
        expect(await res.clone().text()).not.toContain('top secret');
        await expectError(res, 409, 'IMAGE_FILE_CHANGED');
      }
      await expectError(await app.request(`/faces/${faceId}/thumbnail?size=64`), 409, 'IMAGE_FILE_CHANGED');
    };
    // The indexed file swapped for a link to a file outside the roots.
    await rm(file);
    await symlink(join(outside, 'secret.txt'), file);
    await refused();
    // ... to the very same bytes, outside the roots: still refused (the link leads out).
    await rm(file);
    await symlink(join(outside, 'copy-of-photo1.jpg'), file);
    await refused();
    // ... the folder itself swapped for a link out, to the same bytes.
    await rm(dir, { recursive: true });
    await writeFile(join(outside, 'a.jpg'), photo1);
    await symlink(outside, dir);
    await refused();
    await rm(dir);
    // Replaced in place by other bytes, and by text.
    await mkdir(dir);
    await writeFile(file, photo6);
    await refused();
    await writeFile(file, SECRET);
    await refused();
    // Put back as indexed: served again.
    await writeFile(file, photo1);
    const back = await app.request(`/images/${imageId}/file`);
    expect(back.status).toBe(200);
    expect(Buffer.from(await back.arrayBuffer()).equals(photo1)).toBe(true);
    expect((await app.request(`/faces/${faceId}/thumbnail?size=64`)).status).toBe(200);
  });

  it('a file under a folder whose name ends in ! is a file, not an archive member', async () => {
    const dir = join(root, 'shots!');
    await mkdir(dir);
    await writeFile(join(dir, 'one.jpg'), photo1);
    const run = await index(dir, 'bang');
    const imageId = (await ledger(run.id)).get(join(dir, 'one.jpg'))!.imageId!;
    const res = await app.request(`/images/${imageId}/file`);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(photo1)).toBe(true);
    expect((await app.request(`/images/${imageId}/preview?size=320`)).status).toBe(200);
  });

  it('a preview of indexed bytes that do not decode is a 422, never a 500', async () => {
    const dir = join(root, 'broken');
    await mkdir(dir);
    const bad = join(dir, 'bad.jpg');
    await writeFile(bad, Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(2000, 7)]));
    const run = await index(dir, 'broken');
    expect(run.counts.imagesFailed).toBe(1);
    const imageId = (await ledger(run.id)).get(bad)!.imageId!;
    expect(imageId).toBeGreaterThan(0);
    await expectError(await app.request(`/images/${imageId}/preview?size=320`), 422, 'IMAGE_UNDECODABLE');
  });
});

describe('index runs', () => {
  it('never follow a link out of the folder they index, whether or not its target exists', async () => {
    const dir = join(root, 'links');
    await mkdir(join(dir, 'sub'), { recursive: true });
    await writeFile(join(dir, 'sub', 'real.jpg'), photo1);
    await symlink(join(dir, 'sub', 'real.jpg'), join(dir, 'inside.jpg'));
    await symlink(join(outside, 'face.jpg'), join(dir, 'out.jpg'));
    await symlink(join(outside, 'missing.jpg'), join(dir, 'out-missing.jpg'));
    await symlink('../../outside/face.jpg', join(dir, 'relative-out.jpg'));
    const run = await index(dir, 'links');
    expect(run.status).toBe('succeeded');
    const entries = await ledger(run.id);
    // A link within the folder is followed: the same bytes as real.jpg, so one of the two is
    // indexed and the other skipped as a duplicate, whichever the walk meets first.
    const within = [join(dir, 'sub', 'real.jpg'), join(dir, 'inside.jpg')].map(
      (p) => entries.get(p)!.outcome,
    );
    expect(within.sort()).toEqual(['indexed', 'skipped']);
    const out = ['out.jpg', 'out-missing.jpg', 'relative-out.jpg'].map((n) => entries.get(join(dir, n))!);
    expect(out.map((e) => [e.outcome, e.errorCode, e.imageId])).toEqual([
      ['failed', 'LINK_OUTSIDE_SOURCE', null],
      ['failed', 'LINK_OUTSIDE_SOURCE', null],
      ['failed', 'LINK_OUTSIDE_SOURCE', null],
    ]);
    // The same words whether the target exists or not.
    expect(out[0]!.errorMessage!.replace('out.jpg', 'X')).toBe(
      out[1]!.errorMessage!.replace('out-missing.jpg', 'X'),
    );
    const detail = await json<CollectionDetailResponse>(await app.request('/collections/links'));
    expect(detail.images).toEqual({ pending: 0, indexed: 1, failed: 3 });
  });

  it('index the safe members of a zip that also holds unsafe names, and count the refused ones as failed', async () => {
    const zip = join(root, 'mixed.zip');
    await writeStoredZip(zip, [
      { name: '../../escape.jpg', bytes: photo6 },
      { name: '/etc/abs.jpg', bytes: photo6 },
      { name: 'pics/good.jpg', bytes: photo1 },
    ]);
    const run = await index(zip, 'zipped');
    expect(run).toMatchObject({ status: 'succeeded', counts: { imagesIndexed: 1, imagesFailed: 2 } });
    const entries = await ledger(run.id);
    expect(entries.get(`${zip}!/../../escape.jpg`)!.errorCode).toBe('ARCHIVE_MEMBER_UNSAFE');
    expect(entries.get(`${zip}!/etc/abs.jpg`) ?? entries.get(`${zip}!//etc/abs.jpg`)).toMatchObject({
      errorCode: 'ARCHIVE_MEMBER_UNSAFE',
    });
    const detail = await json<CollectionDetailResponse>(await app.request('/collections/zipped'));
    expect(detail.images).toEqual({ pending: 0, indexed: 1, failed: 2 });
    // The good member is served from the archive, past the unsafe names.
    const imageId = entries.get(`${zip}!/pics/good.jpg`)!.imageId!;
    const res = await app.request(`/images/${imageId}/file`);
    expect(Buffer.from(await res.arrayBuffer()).equals(photo1)).toBe(true);
  });

  it('refuse a source that leads out of the roots the same way whether or not it exists', async () => {
    await symlink(join(outside, 'face.jpg'), join(root, 'to-face.jpg'));
    await symlink(join(outside, 'nothing-here'), join(root, 'to-nothing'));
    for (const source of [
      join(root, 'to-face.jpg'),
      join(root, 'to-nothing'),
      join(outside, 'face.jpg'),
      join(outside, 'nothing-here'),
      join(root, '..', 'outside', 'face.jpg'),
    ]) {
      const res = await postJson(app, '/runs', { source, collection: 'nope' });
      await expectError(res, 403, 'SOURCE_NOT_ALLOWED');
    }
  });
});

describe('FEC evaluations', () => {
  it('read no image that the map CSV names outside the roots, and never say whether it exists', async () => {
    const dir = join(root, 'fec');
    await mkdir(dir);
    await writeFile(join(dir, 'inside.jpg'), photo1);
    const row = (urls: string[]) =>
      [
        ...urls.flatMap((u) => [u, 0.1, 0.9, 0.1, 0.9]),
        'ONE_CLASS_TRIPLET',
        ...Array.from({ length: 6 }, (_, a) => `ann${a},1`),
      ].join(',');
    const urls = ['http://x.org/exists.jpg', 'http://x.org/missing.jpg', 'http://x.org/inside.jpg'];
    await writeFile(join(dir, 'triplets.csv'), `${row(urls)}\n`);
    await writeFile(
      join(dir, 'map.csv'),
      [
        'url,path',
        `${urls[0]},${join(outside, 'face.jpg')}`,
        `${urls[1]},${join(outside, 'missing.jpg')}`,
        `${urls[2]},${join(dir, 'inside.jpg')}`,
      ].join('\n'),
    );
    const res = await postJson(app, '/eval/fec', {
      triplets: join(dir, 'triplets.csv'),
      map: join(dir, 'map.csv'),
      bootstrapSamples: 0,
    });
    expect(res.status).toBe(202);
    const { id } = await json<{ id: string }>(res);
    expect((await untilFinished(app, `/eval/runs/${id}`)).status).toBe('succeeded');
    const report = await (await app.request(`/eval/runs/${id}/report.html`)).text();
    expect(report).not.toContain('does not exist');
    expect(report.match(/outside the folders this server may read/g)).toHaveLength(2);
    expect(report).toContain('map-path-not-allowed');
  });

  it('answer 400 at once when neither images nor map is given', async () => {
    const triplets = join(root, 'only-triplets.csv');
    await writeFile(triplets, '');
    const before = (await json<{ runs: unknown[] }>(await app.request('/eval/runs'))).runs.length;
    const res = await postJson(app, '/eval/fec', { triplets });
    await expectError(res, 400, 'IMAGES_SOURCE_MISSING');
    expect((await json<{ runs: unknown[] }>(await app.request('/eval/runs'))).runs).toHaveLength(before);
  });
});

describe('host names', () => {
  it('answers only to the allowed host names (DNS rebinding), but the health checks to any', async () => {
    const host = (name: string, path = '/collections') => app.request(path, { headers: { Host: name } });
    for (const name of ['localhost', 'localhost:8080', '127.0.0.1:8080', '[::1]:8080', 'LOCALHOST.']) {
      expect((await host(name)).status, name).toBe(200);
    }
    await expectError(await host('evil.example'), 421, 'HOST_NOT_ALLOWED');
    await expectError(await host('evil.example:8080', '/'), 421, 'HOST_NOT_ALLOWED');
    expect((await host('evil.example', '/healthz')).status).toBe(200);
    const named = createApp(fx.runtime, { allowedHosts: ['fever.example.org'] });
    expect((await named.request('/collections', { headers: { Host: 'fever.example.org' } })).status).toBe(
      200,
    );
    await expectError(
      await named.request('/collections', { headers: { Host: 'localhost' } }),
      421,
      'HOST_NOT_ALLOWED',
    );
  });
});

describe('OpenAPI', () => {
  it('marks no field with a default as required in a request body', async () => {
    const doc = await json<{ components: { schemas: Record<string, { required?: string[] }> } }>(
      await app.request('/openapi.json'),
    );
    const { schemas } = doc.components;
    expect(schemas.VectorSearchRequest!.required).toEqual(['vector']);
    expect(schemas.StartIndexRunRequest!.required).toEqual(['source', 'collection']);
    // Answers always carry their defaulted fields.
    expect(schemas.VectorSearchResponse!.required).toEqual(expect.arrayContaining(['k', 'offset']));
  });
});
