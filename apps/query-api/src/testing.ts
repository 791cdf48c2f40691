/**
 * Test support: a real index built from face-api's sample photos with the real encoder, written
 * through the repositories exactly as the indexer writes it (images, faces, vectors), in a
 * throw-away FEVER_DATA_DIR (embedded mode) or a throw-away Postgres database.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { createLogger, openRuntime, type ServingRuntime } from '@fever/core';
import { decodeImage, sha256Bytes } from '@fever/encoder';
import { samplePhotos } from '@fever/encoder/testing';
import type { NewFace } from '@fever/metadata';
import { facePointId, parseConfig } from '@fever/schema';
import type { Point } from '@fever/vectors';

export interface IndexedFace {
  id: string;
  collection: string;
  imageId: number;
  photo: string;
  faceIndex: number;
  label: string;
}

/** Photos 1-3 go to `family`, 4-5 to `travel`; photo 6 is never indexed (a fresh example). */
export const FIXTURE_COLLECTIONS: Record<string, number[]> = { family: [1, 2, 3], travel: [4, 5] };

export interface Fixture {
  runtime: ServingRuntime;
  dataDir: string;
  photos: string[];
  faces: IndexedFace[];
  close(): Promise<void>;
}

/**
 * A runtime over the fixture index. With `template` (a data dir made by buildFixtureTemplate,
 * e.g. once in vitest's globalSetup) the index is copied rather than rebuilt: creating a PGlite
 * cluster and embedding the photos costs seconds that every test file would otherwise pay.
 */
export async function openFixture(
  options: { env?: Record<string, string>; databaseUrl?: string; template?: string } = {},
): Promise<Fixture> {
  const dataDir = await mkdtemp(join(tmpdir(), 'fever-api-'));
  const useTemplate = options.template !== undefined && options.databaseUrl === undefined;
  if (useTemplate) await cp(options.template!, dataDir, { recursive: true });
  const config = parseConfig({
    FEVER_DATA_DIR: dataDir,
    FEVER_LOG_LEVEL: 'silent',
    FEVER_DEVICE: 'cpu',
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
    ...options.env,
  });
  const runtime = await openRuntime(config, { logger: createLogger('silent') });
  try {
    const photos = samplePhotos();
    const faces = useTemplate
      ? (JSON.parse(await readFile(join(dataDir, 'fixture-faces.json'), 'utf8')) as IndexedFace[])
      : await indexPhotos(runtime, photos, FIXTURE_COLLECTIONS);
    return {
      runtime,
      dataDir,
      photos,
      faces,
      async close() {
        await runtime.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await runtime.close();
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/** Builds the fixture index (embedded mode) into `dir`, closed and ready to be copied. */
export async function buildFixtureTemplate(dir: string): Promise<void> {
  const config = parseConfig({ FEVER_DATA_DIR: dir, FEVER_LOG_LEVEL: 'silent', FEVER_DEVICE: 'cpu' });
  const runtime = await openRuntime(config, { logger: createLogger('silent') });
  try {
    const faces = await indexPhotos(runtime, samplePhotos(), FIXTURE_COLLECTIONS);
    await writeFile(join(dir, 'fixture-faces.json'), JSON.stringify(faces));
  } finally {
    await runtime.close();
  }
}

/** Indexes photos (numbered from 1) into collections, creating them; returns the faces written. */
export async function indexPhotos(
  runtime: ServingRuntime,
  photos: string[],
  layout: Record<string, number[]>,
): Promise<IndexedFace[]> {
  const { metadata, vectors } = runtime;
  const model = await runtime.model();
  const encoder = await runtime.encoder();
  const out: IndexedFace[] = [];
  for (const [name, numbers] of Object.entries(layout)) {
    const collection =
      (await metadata.collections.get(name)) ?? (await metadata.collections.create({ name }));
    for (const n of numbers) {
      const path = photos[n - 1]!;
      const bytes = await readFile(path);
      const sha256 = sha256Bytes(bytes);
      const { image } = await metadata.images.upsert({
        collectionId: collection.id,
        sha256,
        uri: path,
        sizeBytes: bytes.length,
      });
      const decoded = await decodeImage(bytes, { name: path });
      const [found] = await encoder.encode([decoded]);
      const rows: NewFace[] = [];
      const points: Point[] = [];
      found!.forEach((face, faceIndex) => {
        const id = facePointId({
          collectionId: collection.id,
          imageSha256: sha256,
          faceIndex,
          modelId: model.id,
          modelVersion: model.version,
        });
        const label = face.label ?? '';
        rows.push({
          id,
          imageId: image.id,
          collectionId: collection.id,
          faceIndex,
          box: face.box,
          detectionScore: face.score,
          probs: Array.from(face.probs ?? []),
          label,
          modelId: model.id,
          modelVersion: model.version,
        });
        points.push({
          id,
          vector: face.embedding,
          payload: {
            collection: name,
            imageId: String(image.id),
            label,
            score: face.score,
            model: `${model.id}@${model.version}`,
          },
        });
        out.push({ id, collection: name, imageId: image.id, photo: path, faceIndex, label });
      });
      await metadata.faces.insertMany(rows);
      await vectors.upsert(model.vectorCollection, points);
      await metadata.images.setStatus(image.id, {
        status: 'indexed',
        width: decoded.width,
        height: decoded.height,
        faceCount: rows.length,
      });
    }
  }
  return out;
}

/** Writes a zip archive with its members stored uncompressed (enough for tests; no zip library needed). */
export async function writeStoredZip(
  path: string,
  members: { name: string; bytes: Uint8Array }[],
): Promise<void> {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const { name, bytes } of members) {
    const fileName = Buffer.from(name, 'utf8');
    const crc = crc32(bytes);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(bytes.length, 18);
    local.writeUInt32LE(bytes.length, 22);
    local.writeUInt16LE(fileName.length, 26);
    parts.push(local, fileName, Buffer.from(bytes));
    const header = Buffer.alloc(46);
    header.writeUInt32LE(0x02014b50, 0);
    header.writeUInt16LE(20, 4);
    header.writeUInt16LE(20, 6);
    header.writeUInt16LE(0x0800, 8);
    header.writeUInt32LE(crc, 16);
    header.writeUInt32LE(bytes.length, 20);
    header.writeUInt32LE(bytes.length, 24);
    header.writeUInt16LE(fileName.length, 28);
    header.writeUInt32LE(offset, 42);
    central.push(header, fileName);
    offset += local.length + fileName.length + bytes.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  await writeFile(path, Buffer.concat([...parts, directory, end]));
}
