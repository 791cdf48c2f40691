import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeImage,
  Encoder,
  type ExpressionHead,
  expressionBlockTensors,
  readHeadFiles,
} from '@fever/encoder';
import { duoComposite, sharedData } from '@fever/encoder/testing';
import { readLabels } from '@fever/eval';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gridPool, normalizeRows, TrainableDenseBlock } from './dense-block.ts';
import { modelFeatures, trunkFeatures } from './features.ts';
import { Gemm } from './gemm.ts';
import { runHeadTraining } from './run.ts';
import { TrunkPrefix } from './trunk-maps.ts';

const fer = sharedData('fer2013_train');
const work = mkdtempSync(join(tmpdir(), 'fever-train-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The head in plain loops, independent of both the trainer's Gemm and onnxruntime's graph. */
function applyHead(head: ExpressionHead, x: Float32Array): Float32Array {
  let h = x;
  for (const layer of head.layers) {
    const y = Float32Array.from(layer.bias);
    for (let k = 0; k < layer.inputs; k++)
      for (let j = 0; j < layer.outputs; j++) y[j] = y[j]! + h[k]! * layer.weight[k * layer.outputs + j]!;
    if (layer.activation === 'relu') for (let j = 0; j < y.length; j++) y[j] = Math.max(0, y[j]!);
    h = y;
  }
  const norm = Math.hypot(...h);
  return h.map((v) => v / norm);
}

describe.skipIf(!fer)('fever train head on FER2013 crops', () => {
  const labels = join(work, 'labels.csv');
  let picked: string[] = [];
  // In beforeAll, not here: a skipped suite's body still runs, and without the data it would throw.
  beforeAll(() => {
    // 24 faces per label: small enough for a test, enough for every label in every split.
    const rows = readFileSync(join(fer!, 'labels.csv'), 'utf8').trim().split('\n');
    const perLabel = new Map<string, number>();
    picked = rows.slice(1).filter((row) => {
      const label = row.split(',')[1]!;
      const n = perLabel.get(label) ?? 0;
      perLabel.set(label, n + 1);
      return n < 24;
    });
    writeFileSync(labels, `${rows[0]}\n${picked.join('\n')}\n`);
  });
  const options = {
    labels,
    root: fer!,
    id: 'test-head',
    input: 'grid' as const,
    loss: 'cosface' as const,
    hidden: [32],
    dims: 8,
    epochs: 3,
    batchSize: 32,
    learningRate: 1e-3,
    weightDecay: 1e-3,
    scale: 16,
    margin: 0.2,
    fineTune: null,
    trunkLearningRate: 1e-4,
    mirror: true,
    seed: 4,
    validation: 0.25,
    monitor: 0.2,
    cacheDir: join(work, 'cache'),
    encoder: { threads: 1 },
  };

  it('holds out a validation split, writes the head and a model whose ONNX head equals the trained one', async () => {
    const out = join(work, 'a');
    const result = await runHeadTraining({ ...options, out });
    expect(result.counts).toEqual({ train: 98, monitor: 28, validation: 42, unreadable: 0 });

    const train = await readLabels(result.splitFiles.train, { root: fer! });
    const validation = await readLabels(result.splitFiles.validation, { root: fer! });
    expect(validation).toHaveLength(42);
    const held = new Set(validation.map((i) => i.path));
    expect(train.filter((i) => held.has(i.path))).toEqual([]);
    expect(train.length + validation.length).toBe(picked.length);

    const { head, file } = await readHeadFiles(out);
    expect(file.id).toBe('test-head');
    expect(head.layers.map((l) => [l.inputs, l.outputs])).toEqual([
      [2304, 32],
      [32, 8],
    ]);

    // The composed ONNX model embeds held-out crops exactly like the head applied to the
    // trunk features it was trained on, and keeps face-api's probabilities.
    const features = await trunkFeatures(validation.slice(0, 8), {
      input: 'grid',
      workDir: join(work, 'features'),
      cacheDir: null,
    });
    const composed = await Encoder.create({ expressionModel: result.manifestPath, threads: 1 });
    const original = await Encoder.create({ threads: 1 });
    try {
      expect(composed.model.id).toBe('test-head');
      expect(composed.model.version).toContain(file.weights.sha256.slice(0, 12));
      expect(composed.model.embeddingDims).toBe(8);
      const images = await Promise.all(validation.slice(0, 8).map((i) => decodeImage(i.file)));
      const mine = await composed.embedCrops(images);
      const theirs = await original.embedCrops(images);
      let embeddingDiff = 0;
      let probsDiff = 0;
      mine.forEach((face, i) => {
        const expected = applyHead(head, features.features.subarray(i * 2304, (i + 1) * 2304));
        expect(face.embedding).toHaveLength(8);
        face.embedding.forEach((v, j) => {
          embeddingDiff = Math.max(embeddingDiff, Math.abs(v - expected[j]!));
        });
        face.probs!.forEach((p, j) => {
          probsDiff = Math.max(probsDiff, Math.abs(p - theirs[i]!.probs![j]!));
        });
        expect(face.label).toBe(theirs[i]!.label);
      });
      expect(embeddingDiff).toBeLessThan(1e-4);
      expect(probsDiff).toBeLessThan(1e-5);
    } finally {
      await composed.close();
      await original.close();
    }
  });

  it('gives the same head bytes for the same seed, and other bytes for another seed', async () => {
    const again = await runHeadTraining({ ...options, out: join(work, 'b') });
    const first = JSON.parse(readFileSync(join(work, 'a', 'head.json'), 'utf8'));
    expect(again.head.weights.sha256).toBe(first.weights.sha256);
    const other = await runHeadTraining({ ...options, seed: 5, out: join(work, 'c') });
    expect(other.head.weights.sha256).not.toBe(first.weights.sha256);
  });

  it("fine-tunes dense3 with the head into one model: ONNX embeds like the JS block + head, probs stay face-api's", async () => {
    const out = join(work, 'tuned');
    const tuned = { ...options, fineTune: 'dense3' as const, epochs: 2, trunkLearningRate: 1e-3 };
    const result = await runHeadTraining({ ...tuned, out });
    expect(result.history).toHaveLength(2);
    const { head, file } = await readHeadFiles(out);
    expect(file.trunk?.map((t) => t.name).sort()).toEqual(
      ['conv0', 'conv1', 'conv2', 'conv3'].flatMap((c) =>
        ['bias', 'depthwise_filter', 'pointwise_filter'].map((p) => `dense3/${c}/${p}`),
      ),
    );
    // Training moved the block away from face-api's weights.
    const original = new Map((await expressionBlockTensors('dense3')).map((t) => [t.name, t.data]));
    const moved = head.trunk!.filter((t) => t.data.some((v, i) => v !== original.get(t.name)![i]));
    expect(moved.length).toBe(12);

    const validation = (await readLabels(result.splitFiles.validation, { root: fer! })).slice(0, 8);
    const images = await Promise.all(validation.map((i) => decodeImage(i.file)));
    // The JS side from float32 dense2 maps (not the trainer's float16 copies): block, grid, head.
    const prefix = await TrunkPrefix.load('dense2', 1);
    const gemm = await Gemm.create(1);
    const expected: Float32Array[] = [];
    try {
      const maps = await prefix.run(images);
      const n = images.length;
      const plane = 14 * 14;
      const x = new Float32Array(maps.length);
      for (let b = 0; b < n; b++)
        for (let c = 0; c < 128; c++)
          x.set(maps.subarray((b * 128 + c) * plane, (b * 128 + c + 1) * plane), (c * n + b) * plane);
      const block = new TrainableDenseBlock(gemm, 'dense3', head.trunk!);
      const pass = await block.forward(x, n);
      const grid = normalizeRows(gridPool(pass.map, n, 7, 256), n, 2304).y;
      for (let b = 0; b < n; b++) expected.push(applyHead(head, grid.subarray(b * 2304, (b + 1) * 2304)));
    } finally {
      await prefix.close();
      await gemm.close();
    }
    const composed = await Encoder.create({ expressionModel: result.manifestPath, threads: 1 });
    const faceApi = await Encoder.create({ threads: 1 });
    try {
      expect(composed.model.version).toContain(file.weights.sha256.slice(0, 12));
      expect(composed.model.source).toMatch(/dense3 fine-tuned/);
      const mine = await composed.embedCrops(images);
      const theirs = await faceApi.embedCrops(images);
      let embeddingDiff = 0;
      let probsDiff = 0;
      mine.forEach((face, i) => {
        expect(face.embedding).toHaveLength(8);
        face.embedding.forEach((v, j) => {
          embeddingDiff = Math.max(embeddingDiff, Math.abs(v - expected[i]![j]!));
        });
        face.probs!.forEach((p, j) => {
          probsDiff = Math.max(probsDiff, Math.abs(p - theirs[i]!.probs![j]!));
        });
        expect(face.label).toBe(theirs[i]!.label);
      });
      expect(embeddingDiff).toBeLessThan(1e-4);
      expect(probsDiff).toBeLessThan(1e-5);
    } finally {
      await composed.close();
      await faceApi.close();
    }

    // Deterministic: the same seed gives the same bytes (the second run reads the map cache).
    const again = await runHeadTraining({ ...tuned, out: join(work, 'tuned-again') });
    expect(again.head.weights.sha256).toBe(file.weights.sha256);
  });

  it('trains a head over any model (here a composite) and composes that model with it', async () => {
    const { composeBaseHead } = await import('@fever/encoder');
    const base = join(work, 'duo.json');
    writeFileSync(base, JSON.stringify(duoComposite()));
    const out = join(work, 'over-duo');
    const result = await runHeadTraining({ ...options, id: 'duo-head', input: 'model', base, out });
    const { head, file } = await readHeadFiles(out);
    expect(file.input).toBe('model');
    expect(file.base).toMatchObject({ manifest: '../duo.json', id: 'duo' });
    expect(head.layers.map((l) => [l.inputs, l.outputs])).toEqual([
      [512, 32],
      [32, 8],
    ]);
    expect(result.model).toMatch(/^duo-head@c\.[0-9a-f]{12}$/);

    const validation = (await readLabels(result.splitFiles.validation, { root: fer! })).slice(0, 8);
    const features = await modelFeatures(validation, base, { cacheDir: null });
    const composed = await Encoder.create({ expressionModel: result.manifestPath, threads: 1 });
    const original = await Encoder.create({ expressionModel: base, threads: 1 });
    try {
      expect(composed.model.embeddingDims).toBe(8);
      const images = await Promise.all(validation.map((i) => decodeImage(i.file)));
      const mine = await composed.embedCrops(images);
      const theirs = await original.embedCrops(images);
      let diff = 0;
      mine.forEach((face, i) => {
        const expected = applyHead(head, features.features.subarray(i * 512, (i + 1) * 512));
        face.embedding.forEach((v, j) => {
          diff = Math.max(diff, Math.abs(v - expected[j]!));
        });
        expect(Array.from(face.probs!)).toEqual(Array.from(theirs[i]!.probs!));
      });
      expect(diff).toBeLessThan(1e-5);
    } finally {
      await composed.close();
      await original.close();
    }
    // Composing again (as `npm run models` does for committed heads) rewrites nothing.
    const again = await composeBaseHead(join(out, 'model'), 'duo-head', base, head.layers);
    expect(again).toMatchObject({ written: false, version: result.model.split('@')[1] });
  });
});
