/**
 * `npm run bench -- metadata-size [--images=10000] [--faces-per-image=3]`
 *
 * Postgres disk per indexed image and per face, for docs/SCALING.md: writes images and faces
 * through the metadata repositories (as the indexer does) into a fresh database on the test
 * server, then reads pg_total_relation_size (table + indexes + TOAST) of each table.
 * Rows land in bench/results/metadata-size.json.
 */
import { createHash } from 'node:crypto';
import { cpus } from 'node:os';
import { type NewFace, openMetadataStore } from '@fever/metadata';
import { createTestDatabase, findTestPostgres } from '@fever/metadata/testing';
import { facePointId } from '@fever/schema';
import postgres from 'postgres';
import { table, writeResults } from './report.ts';

const LABELS = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'];
const MODEL = { id: 'face-api-expression', version: '1.7.15+fever.1' };

function arg(args: string[], name: string, fallback: string): string {
  return args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
}

export default async function metadataSize(args: string[]): Promise<void> {
  const imageCount = Number(arg(args, 'images', '10000'));
  const perImage = Number(arg(args, 'faces-per-image', '3'));
  const server = await findTestPostgres();
  if (server.url === undefined) throw new Error(`no test Postgres: ${server.reason}`);
  const database = await createTestDatabase(server.url);
  const started = performance.now();
  try {
    const store = await openMetadataStore({ driver: 'postgres', url: database.url });
    try {
      await store.models.register({
        ...MODEL,
        dims: 256,
        labels: LABELS,
        fileSha256: 'a'.repeat(64),
        manifest: {},
      });
      const collection = await store.collections.create({ name: 'archive' });
      let faces: NewFace[] = [];
      for (let i = 0; i < imageCount; i++) {
        const sha256 = createHash('sha256').update(`image ${i}`).digest('hex');
        const { image } = await store.images.upsert({
          collectionId: collection.id,
          sha256,
          uri: `/photos/archive/${2000 + (i % 25)}/${String(i % 12).padStart(2, '0')}/IMG_${String(i).padStart(6, '0')}.jpg`,
          sizeBytes: 2_000_000 + i,
        });
        await store.images.setStatus(image.id, {
          status: 'indexed',
          width: 4000,
          height: 3000,
          faceCount: perImage,
        });
        for (let f = 0; f < perImage; f++) {
          const probs = LABELS.map((_, j) => ((i + f + j) % 7) / 21);
          faces.push({
            id: facePointId({
              collectionId: collection.id,
              imageSha256: sha256,
              faceIndex: f,
              modelId: MODEL.id,
              modelVersion: MODEL.version,
            }),
            imageId: image.id,
            collectionId: collection.id,
            faceIndex: f,
            box: { x: 100.5 * f, y: 220.25, width: 180.75, height: 210.5 },
            detectionScore: 0.5 + ((i + f) % 50) / 100,
            probs,
            label: LABELS[(i + f) % 7]!,
            modelId: MODEL.id,
            modelVersion: MODEL.version,
          });
        }
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
    let sizes: { table: string; rows: number; bytes: number }[];
    try {
      await client.unsafe('VACUUM ANALYZE');
      sizes = [];
      for (const name of ['images', 'faces']) {
        const [row] = await client.unsafe<[{ bytes: string; n: string }]>(
          `SELECT pg_total_relation_size('${name}') AS bytes, (SELECT count(*) FROM ${name}) AS n`,
        );
        sizes.push({ table: name, rows: Number(row.n), bytes: Number(row.bytes) });
      }
    } finally {
      await client.end();
    }
    const rows = sizes.map((s) => ({ ...s, bytes_per_row: s.bytes / s.rows }));
    console.log(
      table(
        rows.map((r) => ({
          table: r.table,
          rows: r.rows.toLocaleString('en-US'),
          'MB (table+indexes)': (r.bytes / 1024 / 1024).toFixed(1),
          'bytes/row': r.bytes_per_row.toFixed(0),
        })),
      ),
    );
    const file = await writeResults('metadata-size', {
      bench: 'metadata-size',
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version },
      date: new Date().toISOString(),
      args,
      seconds: (performance.now() - started) / 1000,
      rows,
    });
    console.error(`wrote ${file}`);
  } finally {
    await database.drop();
  }
}
