/**
 * `npm run bench -- people [--faces=100000] [--metadata-faces=30000] [--repeats=5]
 *                          [--parts=identity,metadata,clustering]`
 *
 * What identity descriptors cost, for docs/BENCHMARKS.md:
 *   1. the identity network per face: Encoder.encode on the face-api sample photos with and
 *      without descriptors (landmarks on the detector crop + face-api-recognition on the aligned
 *      crop), in the same run, so the difference is the identity cost;
 *   2. metadata bytes per face with and without descriptors: faces and face_identities rows
 *      written into a fresh database on the test Postgres, pg_total_relation_size of each;
 *   3. clustering time for N faces (@fever/people clusterDescriptors, default threshold) on
 *      synthetic unit descriptors: people of 1-9 faces around random centres
 *      (face-to-face cosine distance about 0.02, so they link).
 * Rows land in bench/results/people.json.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { DEFAULT_IDENTITY_MANIFEST, decodeImage, Encoder } from '@fever/encoder';
import { samplePhotos } from '@fever/encoder/testing';
import { type NewFace, openMetadataStore } from '@fever/metadata';
import { createTestDatabase, findTestPostgres } from '@fever/metadata/testing';
import { clusterDescriptors } from '@fever/people';
import { facePointId } from '@fever/schema';
import postgres from 'postgres';
import { table, writeResults } from './report.ts';

function arg(args: string[], name: string, fallback: string): string {
  return args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
}

async function identityCost(repeats: number) {
  const encoder = await Encoder.create({
    device: 'cpu',
    identityModel: DEFAULT_IDENTITY_MANIFEST,
    logger: { info() {}, warn() {} },
  });
  try {
    const images = await Promise.all(samplePhotos().map((p) => decodeImage(readFileSync(p))));
    const faces = (await encoder.encode(images)).flat().length;
    const time = async (identity: boolean) => {
      let best = Number.POSITIVE_INFINITY;
      for (let r = 0; r < repeats; r++) {
        const t = performance.now();
        await encoder.encode(images, { identity });
        best = Math.min(best, performance.now() - t);
      }
      return best;
    };
    // Interleaved, best of `repeats`: the two figures see the same machine load.
    const without = await time(false);
    const withIds = await time(true);
    return { faces, images: images.length, msWithout: without, msWith: withIds };
  } finally {
    await encoder.close();
  }
}

async function metadataBytes(count: number) {
  const server = await findTestPostgres();
  if (server.url === undefined) throw new Error(`no test Postgres: ${server.reason}`);
  const database = await createTestDatabase(server.url);
  try {
    const store = await openMetadataStore({ driver: 'postgres', url: database.url });
    const model = { id: 'face-api-expression', version: '1.7.15+fever.1' };
    try {
      await store.models.register({
        ...model,
        dims: 256,
        labels: ['happy'],
        fileSha256: 'a'.repeat(64),
        manifest: {},
      });
      const collection = await store.collections.create({ name: 'archive' });
      let faces: NewFace[] = [];
      for (let i = 0; i < count; i++) {
        const sha256 = i.toString(16).padStart(64, '0');
        const { image } = await store.images.upsert({
          collectionId: collection.id,
          sha256,
          uri: `/photos/IMG_${i}.jpg`,
          sizeBytes: 2_000_000,
        });
        faces.push({
          id: facePointId({
            collectionId: collection.id,
            imageSha256: sha256,
            faceIndex: 0,
            modelId: model.id,
            modelVersion: model.version,
          }),
          imageId: image.id,
          collectionId: collection.id,
          faceIndex: 0,
          box: { x: 100.5, y: 220.25, width: 180.75, height: 210.5 },
          detectionScore: 0.9,
          probs: [0.1, 0.2, 0.3, 0.1, 0.1, 0.1, 0.1],
          label: 'happy',
          ...{ modelId: model.id, modelVersion: model.version },
        });
        if (faces.length >= 3000) {
          await store.faces.insertMany(faces);
          faces = [];
        }
      }
      await store.faces.insertMany(faces);
    } finally {
      await store.close();
    }
    const client = postgres(database.url, { max: 1, onnotice: () => {} });
    try {
      // Random 128-d descriptors as the indexer stores them (real[]), one per face.
      await client.unsafe(`
        INSERT INTO face_identities (face_id, collection_id, model, descriptor)
        SELECT f.id, f.collection_id, 'face-api-recognition@1.7.15+fever.1',
               ARRAY(SELECT (random() - 0.5 + 0 * f.face_index)::real FROM generate_series(1, 128))
        FROM faces f`);
      await client.unsafe('VACUUM ANALYZE');
      const size = async (name: string) => {
        const [row] = await client.unsafe<[{ bytes: string; n: string }]>(
          `SELECT pg_total_relation_size('${name}') AS bytes, (SELECT count(*) FROM ${name}) AS n`,
        );
        return Number(row.bytes) / Number(row.n);
      };
      return {
        faces: count,
        facesBytesPerFace: await size('faces'),
        identityBytesPerFace: await size('face_identities'),
      };
    } finally {
      await client.end();
    }
  } finally {
    await database.drop();
  }
}

function clusteringTime(count: number) {
  let seed = 1;
  const rnd = () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 4294967296;
  };
  const gauss = () => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
  const unit = (v: Float32Array) => {
    let n = 0;
    for (const x of v) n += x * x;
    n = Math.sqrt(n);
    return v.map((x) => x / n);
  };
  const descriptors: Float32Array[] = [];
  while (descriptors.length < count) {
    const centre = unit(Float32Array.from({ length: 128 }, gauss));
    const size = 1 + Math.floor(rnd() * 9);
    for (let f = 0; f < size && descriptors.length < count; f++) {
      descriptors.push(unit(centre.map((c) => c + (gauss() * 0.15) / Math.sqrt(128))));
    }
  }
  const t = performance.now();
  const { count: people } = clusterDescriptors(descriptors);
  return { faces: count, people, seconds: (performance.now() - t) / 1000 };
}

export default async function people(args: string[]): Promise<void> {
  const repeats = Number(arg(args, 'repeats', '5'));
  const parts = new Set(arg(args, 'parts', 'identity,metadata,clustering').split(','));
  const started = performance.now();
  const cost = parts.has('identity') ? await identityCost(repeats) : undefined;
  const bytes = parts.has('metadata')
    ? await metadataBytes(Number(arg(args, 'metadata-faces', '30000')))
    : undefined;
  const clustering = parts.has('clustering')
    ? clusteringTime(Number(arg(args, 'faces', '100000')))
    : undefined;
  const rows: Record<string, string>[] = [];
  if (cost) {
    rows.push(
      { measure: 'encode, no identity (ms/face)', value: (cost.msWithout / cost.faces).toFixed(1) },
      { measure: 'encode + identity (ms/face)', value: (cost.msWith / cost.faces).toFixed(1) },
      {
        measure: 'identity network cost (ms/face)',
        value: ((cost.msWith - cost.msWithout) / cost.faces).toFixed(1),
      },
    );
  }
  if (bytes) {
    rows.push(
      { measure: 'faces row (bytes/face)', value: bytes.facesBytesPerFace.toFixed(0) },
      { measure: 'face_identities row (bytes/face)', value: bytes.identityBytesPerFace.toFixed(0) },
    );
  }
  if (clustering) {
    rows.push({
      measure: `clustering ${clustering.faces} faces into ${clustering.people} (s)`,
      value: clustering.seconds.toFixed(1),
    });
  }
  console.log(table(rows));
  const file = await writeResults(`people${parts.size < 3 ? `-${[...parts].join('-')}` : ''}`, {
    bench: 'people',
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version },
    date: new Date().toISOString(),
    args,
    seconds: (performance.now() - started) / 1000,
    identityCost: cost ?? null,
    metadata: bytes ?? null,
    clustering: clustering ?? null,
  });
  console.error(`wrote ${file}`);
}
