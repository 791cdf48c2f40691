/**
 * The soak's exactly-once check: every image of every run is in the metadata once, its faces are
 * numbered and counted consistently, each face has its vector (no strays), and a by-id search of
 * one face per image answers.
 */
import { readFileSync } from 'node:fs';
import { sha256Bytes } from '@fever/encoder';
import { modelCollectionName, openVectorStore } from '@fever/vectors';
import postgres from 'postgres';
import type { RunRecord } from './traffic.ts';

interface ImageRow {
  id: number;
  sha256: string;
  status: string;
  face_count: number | null;
}

/** What the metadata holds for the collection, and which of its faces a search finds. */
export interface IndexedState {
  model: { id: string; version: string };
  images: ImageRow[];
  faceRows: { id: string; image_id: number; face_index: number }[];
  /** image id → faces of the embedded marker. */
  markers: Map<number, number>;
  withFaces: number;
  searchable: number;
  unsearchable: string[];
}

/** Reads the collection from Postgres and searches one face of each image through the API (still up). */
export async function readIndexedState(
  databaseUrl: string,
  api: string,
  collectionName: string,
): Promise<IndexedState> {
  const db = postgres(databaseUrl, { max: 2, onnotice: () => {} });
  const [model] = await db<{ id: string; version: string }[]>`SELECT id, version FROM models`;
  const [collection] = await db<{ id: number }[]>`SELECT id FROM collections WHERE name = ${collectionName}`;
  const images = await db<ImageRow[]>`
    SELECT id, sha256, status, face_count FROM images WHERE collection_id = ${collection!.id}`;
  const faceRows = await db<{ id: string; image_id: number; face_index: number }[]>`
    SELECT id, image_id, face_index FROM faces
    WHERE collection_id = ${collection!.id} AND model_id = ${model!.id} AND model_version = ${model!.version}
    ORDER BY image_id, face_index`;
  const embedded = await db<{ image_id: number; face_count: number }[]>`
    SELECT e.image_id, e.face_count FROM image_embeddings e JOIN images i ON i.id = e.image_id
    WHERE i.collection_id = ${collection!.id} AND e.model_id = ${model!.id} AND e.model_version = ${model!.version}`;
  await db.end();

  const firstFace = new Map<number, string>();
  for (const f of faceRows) if (!firstFace.has(f.image_id)) firstFace.set(f.image_id, f.id);
  let searchable = 0;
  const unsearchable: string[] = [];
  for (const faceId of firstFace.values()) {
    const res = await fetch(`${api}/faces/${faceId}/similar?k=1`, {
      signal: AbortSignal.timeout(30_000),
    }).catch((err: Error) => err);
    if (!(res instanceof Error) && res.status === 200) searchable++;
    else unsearchable.push(`${faceId}: ${res instanceof Error ? res.message : res.status}`);
  }
  return {
    model: model!,
    images,
    faceRows,
    markers: new Map(embedded.map((e) => [e.image_id, e.face_count])),
    withFaces: firstFace.size,
    searchable,
    unsearchable,
  };
}

/** Vectors of the collection in the embedded store (once its holder has stopped), and how many faces have theirs. */
export async function countVectors(
  vectorsDir: string,
  state: IndexedState,
  collectionName: string,
): Promise<{ vectorCount: number; vectorsFound: number }> {
  const vectors = await openVectorStore({ kind: 'embedded', dir: vectorsDir });
  try {
    const vectorCollection = modelCollectionName(state.model.id, state.model.version);
    const vectorCount = await vectors.count(vectorCollection, { collections: [collectionName] });
    let vectorsFound = 0;
    const ids = state.faceRows.map((f) => f.id);
    for (let i = 0; i < ids.length; i += 1000) {
      vectorsFound += (await vectors.get(vectorCollection, ids.slice(i, i + 1000))).length;
    }
    return { vectorCount, vectorsFound };
  } finally {
    await vectors.close();
  }
}

/** The check's rows, and whether everything holds. */
export function exactlyOnce(
  runs: readonly RunRecord[],
  state: IndexedState,
  stored: { vectorCount: number; vectorsFound: number },
): { check: Record<string, number | string>; ok: boolean } {
  const expected = new Map<string, string>(); // file → sha256
  for (const run of runs)
    for (const f of run.files) if (!expected.has(f)) expected.set(f, sha256Bytes(readFileSync(f)));
  const expectedShas = new Set(expected.values());
  const { images, faceRows } = state;
  const bySha = new Map<string, number>();
  for (const img of images) bySha.set(img.sha256, (bySha.get(img.sha256) ?? 0) + 1);
  const missing = [...expectedShas].filter((s) => !bySha.has(s)).length;
  const extra = [...bySha.keys()].filter((s) => !expectedShas.has(s)).length;
  const duplicated = [...bySha.values()].filter((n) => n > 1).length;
  const notIndexed = images.filter((i) => i.status !== 'indexed').length;
  const facesByImage = new Map<number, { id: string; face_index: number }[]>();
  for (const f of faceRows) {
    const list = facesByImage.get(f.image_id) ?? [];
    list.push(f);
    facesByImage.set(f.image_id, list);
  }
  let faceCountMismatch = 0;
  for (const img of images) {
    const list = facesByImage.get(img.id) ?? [];
    const indexes = new Set(list.map((f) => f.face_index));
    const ok =
      indexes.size === list.length &&
      list.every((f) => f.face_index < list.length) &&
      state.markers.get(img.id) === list.length &&
      img.face_count === list.length;
    if (!ok) faceCountMismatch++;
  }
  const ids = faceRows.map((f) => f.id);
  const ok =
    missing === 0 &&
    extra === 0 &&
    duplicated === 0 &&
    notIndexed === 0 &&
    faceCountMismatch === 0 &&
    stored.vectorCount === faceRows.length &&
    stored.vectorsFound === faceRows.length &&
    new Set(ids).size === ids.length &&
    state.searchable === state.withFaces;
  // Two overlapping runs may both embed an image new to both: the same ids, written twice.
  const imagesIndexed = runs.reduce((n, r) => n + (r.counts?.imagesIndexed ?? 0), 0);
  return {
    ok,
    check: {
      'distinct photos in the runs': expectedShas.size,
      'image rows': images.length,
      missing,
      'not in any run': extra,
      'more than once': duplicated,
      'embedded by two overlapping runs (same ids)': imagesIndexed - images.length,
      'not indexed': notIndexed,
      'images whose faces ≠ their count': faceCountMismatch,
      'faces (metadata)': faceRows.length,
      'vectors (store)': stored.vectorCount,
      'faces with their vector': stored.vectorsFound,
      'images with faces': state.withFaces,
      'searchable by face id': state.searchable,
      'exactly once': ok ? 'yes' : 'NO',
    },
  };
}
