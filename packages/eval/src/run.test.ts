import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { FACE_API_EXPRESSION_MANIFEST } from '@fever/encoder';
import { samplePhotos } from '@fever/encoder/testing';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { runFecEval } from './fec/run.ts';
import type { EvalProgress } from './progress.ts';
import { runRetrievalEval } from './retrieval/run.ts';

// The runners as a library caller (the API's job) uses them: real photos, the real model, a
// progress callback, and a result that survives JSON as it is (it is stored as JSON).
const quiet = { device: 'cpu' as const, logger: { info() {}, warn() {} } };
let dir: string;
const photos = samplePhotos();
const FACE_API = JSON.parse(await readFile(FACE_API_EXPRESSION_MANIFEST, 'utf8'));

/** A manifest for face-api's model file with some fields changed. */
async function copyManifest(changes: Record<string, unknown>): Promise<string> {
  const file = join(dir, `${String(changes.id)}.json`);
  const model = join(dirname(FACE_API_EXPRESSION_MANIFEST), FACE_API.file);
  await writeFile(file, JSON.stringify({ ...FACE_API, file: model, ...changes }));
  return file;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fever-eval-run-'));
  await sharp({ create: { width: 320, height: 240, channels: 3, background: '#808080' } })
    .png()
    .toFile(join(dir, 'blank.png'));
  await writeFile(join(dir, 'broken.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]));
});

describe('runRetrievalEval, detect mode', () => {
  it('uses the largest face of each photo and lists the images without one or unreadable', async () => {
    const labels = join(dir, 'labels.csv');
    const rows = photos.slice(0, 4).map((p, i) => `${p},${i % 2 ? 'a' : 'b'}`);
    await writeFile(labels, `path,label\n${rows.join('\n')}\nblank.png,a\nbroken.jpg,b\n`);
    const events: EvalProgress[] = [];
    const result = await runRetrievalEval({
      labels,
      faces: 'detect',
      outputs: ['embedding', 'probs'],
      encoder: quiet,
      onProgress: (p) => events.push(p),
    });
    expect(result.report.images.noFace).toEqual(['blank.png']);
    expect(result.report.images.unreadable).toEqual([
      expect.objectContaining({ path: 'broken.jpg', code: 'IMAGE_TRUNCATED' }),
    ]);
    expect(result.report.images.used).toBe(4);
    expect(result.metrics.variants.map((v) => [v.output, v.queries])).toEqual([
      ['embedding', 4],
      ['probs', 4],
    ]);
    expect(result.report.variants[0]!.cache).toBeNull();
    expect(events.some((e) => e.phase === 'embed' && e.done === e.total)).toBe(true);
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);
  });
});

describe('runFecEval through a map CSV', () => {
  it('crops by box fractions, reports progress, and returns a JSON-ready result', async () => {
    const map = join(dir, 'map.csv');
    const urls = photos.map((_, i) => `https://photos.example.com/p/${i + 1}.jpg`);
    await writeFile(map, `url,path\n${urls.map((u, i) => `${u},${photos[i]}`).join('\n')}\n`);
    const csv = join(dir, 'triplets.csv');
    const left = '0,0.5,0,1';
    const right = '0.5,1,0,1';
    const rows = [
      `${urls[0]},${left},${urls[0]},${right},${urls[1]},0,1,0,1,ONE_CLASS_TRIPLET,a,1,b,1,c,1,d,2,e,1,f,1`,
      `${urls[2]},0,1,0,1,${urls[3]},0,1,0,1,${urls[4]},0,1,0,1,THREE_CLASS_TRIPLET,a,3,b,3,c,2,d,2,e,3,f,3`,
      `https://elsewhere.example.com/x.jpg,0,1,0,1,${urls[3]},0,1,0,1,${urls[4]},0,1,0,1,TWO_CLASS_TRIPLET,a,1,b,1,c,1,d,1,e,1,f,1`,
    ];
    await writeFile(csv, `${rows.join('\n')}\n`);
    const events: EvalProgress[] = [];
    const result = await runFecEval({
      triplets: csv,
      map,
      distance: 'euclidean',
      encoder: quiet,
      bootstrapSamples: 100,
      onProgress: (p) => events.push(p),
    });
    expect(result.report.triplets).toMatchObject({ parsed: 3, used: 2, skipped: { 'not-in-map': 1 } });
    expect(result.report.faces).toEqual({ unique: 6, embedded: 6 });
    expect(result.metrics.variants[0]).toMatchObject({ output: 'embedding', distance: 'euclidean' });
    expect(result.metrics.variants[0]!.overall.n).toBe(2);
    expect(result.metrics.human.overall.n).toBe(2);
    // No model named: the default.
    expect(result.models[0]).toMatchObject({
      id: 'fever-expression',
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(result.params).toMatchObject({
      map,
      images: null,
      distance: 'euclidean',
      bootstrapSamples: 100,
      seed: 1,
    });
    expect([...new Set(events.map((e) => e.phase))]).toEqual(
      expect.arrayContaining(['parse', 'resolve', 'hash', 'embed', 'score']),
    );
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);
  });

  it('compares two models side by side on the same triplets', async () => {
    // The same ONNX file under another id and version: a user's model plugs in the same way.
    const copy = await copyManifest({ id: 'my-model', version: '2' });
    const result = await runFecEval({
      triplets: join(dir, 'triplets.csv'),
      map: join(dir, 'map.csv'),
      models: [FACE_API_EXPRESSION_MANIFEST, copy],
      outputs: ['embedding', 'probs'],
      encoder: quiet,
      bootstrapSamples: 100,
    });
    expect(result.metrics.variants.map((v) => v.variant)).toEqual([
      `face-api-expression@${FACE_API.version} embedding`,
      `face-api-expression@${FACE_API.version} probs`,
      'my-model@2 embedding',
      'my-model@2 probs',
    ]);
    const figures = result.metrics.variants.map(({ variant, model, ...rest }) => rest);
    expect(figures[2]).toEqual(figures[0]);
    expect(figures[3]).toEqual(figures[1]);
  });

  it('evaluates a composite model like any other (one member of weight 1: the same figures)', async () => {
    const composite = join(dir, 'solo.json');
    await writeFile(
      composite,
      JSON.stringify({
        id: 'solo',
        task: 'expression',
        members: [{ manifest: FACE_API_EXPRESSION_MANIFEST, weight: 1 }],
        probsFrom: 'face-api-expression',
      }),
    );
    const result = await runFecEval({
      triplets: join(dir, 'triplets.csv'),
      map: join(dir, 'map.csv'),
      models: [FACE_API_EXPRESSION_MANIFEST, composite],
      outputs: ['embedding', 'probs'],
      encoder: quiet,
      bootstrapSamples: 100,
    });
    const [, , soloEmbedding] = result.metrics.variants.map((v) => v.variant);
    expect(soloEmbedding).toMatch(/^solo@c\.[0-9a-f]{12} embedding$/);
    const figures = result.metrics.variants.map(({ variant, model, ...rest }) => rest);
    expect(figures[2]).toEqual(figures[0]);
    expect(figures[3]).toEqual(figures[1]);
  });

  it('fails early, naming the file, for a missing model, output or triplets file', async () => {
    const noProbs = await copyManifest({ id: 'no-probs', outputs: { embedding: 'embedding' } });
    await expect(
      runFecEval({
        triplets: join(dir, 'triplets.csv'),
        images: dir,
        models: [noProbs],
        outputs: ['probs'],
        encoder: quiet,
      }),
    ).rejects.toMatchObject({ code: 'OUTPUT_UNAVAILABLE', message: expect.stringContaining(noProbs) });
    await expect(
      runFecEval({
        triplets: join(dir, 'none.csv'),
        images: dir,
        models: ['/nonexistent/manifest.json'],
        encoder: quiet,
      }),
    ).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
    await expect(
      runFecEval({ triplets: join(dir, 'none.csv'), images: dir, encoder: quiet }),
    ).rejects.toMatchObject({
      code: 'TRIPLETS_NOT_FOUND',
      message: expect.stringContaining(join(dir, 'none.csv')),
    });
  });
});
