/**
 * People through PeopleService on a real index: the face-api sample photos with a scaled and a
 * mirrored copy of each (so every person appears three times), clustered, renamed and clustered
 * again, on the embedded store and on Postgres.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { iou } from '@fever/encoder';
import { samplePhotos } from '@fever/encoder/testing';
import { createTestDatabase, findTestPostgres, type TestDatabase } from '@fever/metadata/testing';
import { pairwiseAgreement } from '@fever/people';
import { parseConfig } from '@fever/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIndexRun, waitForRun } from './indexing/index.ts';
import { createLogger } from './logger.ts';
import { PeopleService } from './people.ts';
import { openRuntime, type ServingRuntime } from './runtime.ts';
import { writePeoplePhotos } from './testing.ts';

const pg = await findTestPostgres();
if (pg.url === undefined) {
  if (process.env.CI) throw new Error(`no test Postgres, and CI is set: ${pg.reason}`);
  console.warn(`SKIPPED: the Postgres half needs a test Postgres (${pg.reason})`);
}

let root: string;
let photos: Awaited<ReturnType<typeof writePeoplePhotos>>;
let db: TestDatabase | undefined;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fever-people-'));
  await mkdir(join(root, 'photos'));
  photos = await writePeoplePhotos(join(root, 'photos'), samplePhotos().slice(0, 4));
  if (pg.url) db = await createTestDatabase(pg.url);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await db?.drop();
});

/** The true person of every face of the collection: its original photo and face. */
export async function truePeople(runtime: ServingRuntime, collection: string) {
  const { metadata } = runtime;
  const c = await metadata.collections.require(collection);
  const model = await runtime.model();
  const rows = await metadata.identities.list(c.id, { modelId: model.id, modelVersion: model.version });
  const faceRows = await metadata.faces.getByIds(rows.map((r) => r.faceId));
  const images = new Map(
    (await metadata.images.getByIds([...new Set(faceRows.map((f) => f.imageId))])).map((i) => [i.id, i]),
  );
  const byFile = new Map<string, typeof faceRows>();
  for (const f of faceRows) {
    const uri = images.get(f.imageId)!.uri;
    byFile.set(uri, [...(byFile.get(uri) ?? []), f]);
  }
  const truth = new Map<string, string>();
  for (const f of faceRows) {
    const image = images.get(f.imageId)!;
    const copy = photos.copies.find((k) => k.file === image.uri);
    if (!copy) {
      truth.set(f.id, `${image.uri}#${f.faceIndex}`);
      continue;
    }
    // The original face whose box, carried into the copy, overlaps this one most.
    const originals = byFile.get(copy.of) ?? [];
    const origWidth = images.get(originals[0]?.imageId ?? -1)?.width ?? 0;
    let best = { iou: 0, id: `${image.uri}#${f.faceIndex}` };
    for (const o of originals) {
      const overlap = iou(copy.sameFace(o.box, origWidth), f.box);
      if (overlap > best.iou) best = { iou: overlap, id: `${copy.of}#${o.faceIndex}` };
    }
    truth.set(f.id, best.iou >= 0.5 ? best.id : `${image.uri}#${f.faceIndex}`);
  }
  return { faceIds: rows.map((r) => r.faceId), truth };
}

const modes = ['embedded', ...(pg.url ? ['postgres'] : [])];

describe.each(modes)('people (%s)', (mode) => {
  let runtime: ServingRuntime;
  let people: PeopleService;
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
    people = new PeopleService(runtime);
    const { runId } = await startIndexRun(runtime, { source: join(root, 'photos'), collection: 'family' });
    expect((await waitForRun(runtime, runId, { intervalMs: 100 })).status).toBe('succeeded');
  }, 240_000);
  afterAll(() => runtime?.close());

  it('clusters each face with its copies and never two faces of one photo together', async () => {
    const result = await people.cluster('family');
    const { faceIds, truth } = await truePeople(runtime, 'family');
    expect(result.faces).toBe(faceIds.length);
    expect(result).toMatchObject({ kept: 0, retired: 0, created: result.people });
    const assigned = await runtime.metadata.people.personOf(faceIds);
    expect(assigned.size).toBe(faceIds.length);
    const agreement = pairwiseAgreement(
      faceIds.map((id) => assigned.get(id)!),
      faceIds.map((id) => truth.get(id)!),
    );
    console.log(`people on the sample photos ×3: ${JSON.stringify(agreement)}`);
    expect(agreement.precision).toBe(1);
    expect(agreement.recall).toBeGreaterThan(0.7);

    const listed = await people.list('family', { limit: 1000 });
    expect(listed.total).toBe(result.people);
    expect(listed.people.reduce((s, p) => s + p.faceCount, 0)).toBe(faceIds.length);
    const top = listed.people[0]!;
    expect(top.faceCount).toBe(3);
    expect(faceIds).toContain(top.coverFaceId);
    const shown = await people.show(top.id);
    expect(shown.expressions.reduce((s, e) => s + e.count, 0)).toBe(3);
  }, 120_000);

  it('keeps ids and names when clustered again; a merge keeps the larger id and the name; a split gives the smaller part a new id', async () => {
    const before = (await people.list('family', { limit: 1000 })).people;
    const named = before[0]!;
    await people.rename(named.id, '  Grandma ');
    const again = await people.cluster('family');
    expect(again).toMatchObject({ kept: before.length, created: 0, retired: 0 });
    const after = (await people.list('family', { limit: 1000 })).people;
    expect(after.map((p) => [p.id, p.faceCount])).toEqual(before.map((p) => [p.id, p.faceCount]));
    expect(after.find((p) => p.id === named.id)!.name).toBe('Grandma');

    // Everyone in one cluster: the largest (lowest id on a tie) survives with its name.
    const merged = await people.cluster('family', { threshold: 2, neighbours: 100 });
    expect(merged).toMatchObject({ people: 1, kept: 1, retired: before.length - 1 });
    const [all] = (await people.list('family')).people;
    expect(all!.id).toBe(named.id);
    expect(all!.name).toBe('Grandma');
    // Split again: the part holding most faces keeps the id, the others are new.
    const split = await people.cluster('family');
    expect(split).toMatchObject({ kept: 1, created: before.length - 1 });
    expect((await people.show(named.id)).name).toBe('Grandma');
  }, 120_000);

  it('refuses bad input with the reason', async () => {
    await expect(people.show(999_999)).rejects.toMatchObject({ code: 'PERSON_NOT_FOUND', status: 404 });
    await expect(people.rename(999_999, 'x')).rejects.toMatchObject({
      code: 'PERSON_NOT_FOUND',
      status: 404,
    });
    const [p] = (await people.list('family')).people;
    await expect(people.rename(p!.id, '')).rejects.toMatchObject({
      code: 'INVALID_PERSON_NAME',
      status: 400,
    });
    await expect(people.rename(p!.id, 'x'.repeat(1000))).rejects.toMatchObject({
      code: 'INVALID_PERSON_NAME',
    });
    await expect(people.cluster('family', { threshold: -1 })).rejects.toMatchObject({
      code: 'INVALID_THRESHOLD',
    });
    await expect(people.list('nope')).rejects.toMatchObject({ code: 'COLLECTION_NOT_FOUND', status: 404 });
    await runtime.metadata.collections.create({ name: 'bare', identityDescriptors: false });
    const err = await people.cluster('bare').catch((e: Error) => e);
    expect(err).toMatchObject({ code: 'IDENTITY_UNAVAILABLE', status: 400 });
    expect((err as Error).message).toContain('without identity descriptors');
  });
});
