import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../decode.ts';
import { Encoder } from '../encoder.ts';
import { samplePhotos } from '../testing/paths.ts';
import { composeHeadModel, convertFaceApiModels, expressionBlockTensors } from './face-api.ts';
import { readHeadFiles, writeHeadFiles } from './head-files.ts';
import type { ExpressionHead } from './networks.ts';

const head: ExpressionHead = {
  input: 'pooled',
  layers: [
    {
      inputs: 256,
      outputs: 4,
      activation: 'relu',
      weight: Float32Array.from({ length: 1024 }, (_, i) => Math.sin(i)),
      bias: new Float32Array(4).fill(0.1),
    },
    {
      inputs: 4,
      outputs: 2,
      activation: 'none',
      weight: Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8),
      bias: new Float32Array(2),
    },
  ],
};

describe('learned head files', () => {
  it('round-trips the weights and composes the same model bytes twice', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fever-head-'));
    const file = await writeHeadFiles(dir, 'my-head', head, { seed: 1 });
    const loaded = await readHeadFiles(dir);
    expect(loaded.file).toEqual(file);
    expect(Array.from(loaded.head.layers[1]!.weight)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(loaded.head.layers[0]!.bias[3]).toBeCloseTo(0.1, 6);
    const a = await composeHeadModel(join(dir, 'a'), 'my-head', loaded.head, file.weights.sha256);
    await composeHeadModel(join(dir, 'b'), 'my-head', head, file.weights.sha256);
    const manifest = JSON.parse(await readFile(a.manifestPath, 'utf8'));
    expect(manifest).toMatchObject({
      id: 'my-head',
      embeddingDims: 2,
      outputs: { embedding: 'embedding', probs: 'probs' },
    });
    expect(manifest.version).toMatch(new RegExp(`\\+head\\.${file.weights.sha256.slice(0, 12)}$`));
    expect(await readFile(join(dir, 'a', 'model.onnx'))).toEqual(
      await readFile(join(dir, 'b', 'model.onnx')),
    );

    // onnxruntime runs it: one 2-d unit vector per face.
    const encoder = await Encoder.create({ expressionModel: a.manifestPath, threads: 1 });
    try {
      const [faces] = await encoder.encode([await decodeImage(samplePhotos()[0]!)]);
      expect(faces!.length).toBeGreaterThan(0);
      for (const face of faces!) {
        expect(face.embedding).toHaveLength(2);
        expect(Math.hypot(...face.embedding)).toBeCloseTo(1, 5);
      }
    } finally {
      await encoder.close();
    }
  });

  it('refuses weights that do not match head.json, and a layer of the wrong width', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fever-head-'));
    await writeHeadFiles(dir, 'my-head', head);
    const bin = await readFile(join(dir, 'head.bin'));
    bin[0] = bin[0]! ^ 1;
    await writeFile(join(dir, 'head.bin'), bin);
    await expect(readHeadFiles(dir)).rejects.toMatchObject({ code: 'MODEL_CHECKSUM_MISMATCH' });

    const wrong = await mkdtemp(join(tmpdir(), 'fever-head-'));
    await writeHeadFiles(wrong, 'my-head', { ...head, input: 'grid' });
    await expect(readHeadFiles(wrong)).rejects.toThrow(/layer 0 takes 256 inputs, gets 2304/);
  });

  it('stores fine-tuned trunk tensors in head.bin, so they version the model', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fever-head-'));
    const trunk = await expressionBlockTensors('dense3');
    expect(trunk.map((t) => t.name)).toContain('dense3/conv0/pointwise_filter');
    const plain = await writeHeadFiles(join(dir, 'plain'), 'my-head', head);
    const tuned = await writeHeadFiles(join(dir, 'tuned'), 'my-head', { ...head, trunk });
    expect(tuned.weights.sha256).not.toBe(plain.weights.sha256);
    expect(tuned.trunk?.map((t) => t.name)).toEqual(trunk.map((t) => t.name));
    const loaded = await readHeadFiles(join(dir, 'tuned'));
    expect(loaded.head.trunk!.map((t) => [t.name, t.shape])).toEqual(trunk.map((t) => [t.name, t.shape]));
    loaded.head.trunk!.forEach((t, i) => {
      expect(Array.from(t.data)).toEqual(Array.from(trunk[i]!.data));
    });
    // One value changed in one tensor: another sha, another model version.
    const changed = trunk.map((t) => ({ ...t, data: Float32Array.from(t.data) }));
    changed[0]!.data[0] = changed[0]!.data[0]! + 1e-3;
    const other = await writeHeadFiles(join(dir, 'other'), 'my-head', { ...head, trunk: changed });
    expect(other.weights.sha256).not.toBe(tuned.weights.sha256);
    expect((await readHeadFiles(join(dir, 'plain'))).head.trunk).toBeUndefined();
  });

  it("composes a fine-tuned block beside the original: the embedding follows it, probs stay face-api's", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fever-head-'));
    const trunk = await expressionBlockTensors('dense3');
    const changed = trunk.map((t) => ({
      ...t,
      data: t.name.endsWith('conv3/bias') ? t.data.map((v, i) => v + (i % 2 ? 0.5 : -0.5)) : t.data,
    }));
    const sha = 'f'.repeat(64);
    const models = {
      frozen: await composeHeadModel(join(dir, 'frozen'), 'my-head', head, sha),
      same: await composeHeadModel(join(dir, 'same'), 'my-head', { ...head, trunk }, sha),
      changed: await composeHeadModel(join(dir, 'changed'), 'my-head', { ...head, trunk: changed }, sha),
    };
    const image = await decodeImage(samplePhotos()[0]!);
    const faces: Record<string, { embedding: Float32Array; probs: Float32Array | null }[]> = {};
    for (const [name, model] of Object.entries(models)) {
      const encoder = await Encoder.create({ expressionModel: model.manifestPath, threads: 1 });
      try {
        faces[name] = await encoder.embedBoxes(image, [{ x: 40, y: 30, width: 120, height: 130 }]);
      } finally {
        await encoder.close();
      }
    }
    const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) =>
      Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!)));
    // face-api's own dense3 as the "fine-tuned" one: the same numbers as the frozen trunk.
    expect(maxDiff(faces.same![0]!.embedding, faces.frozen![0]!.embedding)).toBeLessThan(1e-6);
    expect(maxDiff(faces.changed![0]!.embedding, faces.frozen![0]!.embedding)).toBeGreaterThan(1e-3);
    expect(maxDiff(faces.changed![0]!.probs!, faces.frozen![0]!.probs!)).toBeLessThan(1e-7);
    await expect(
      composeHeadModel(
        join(dir, 'bad'),
        'my-head',
        { ...head, trunk: [{ ...trunk[0]!, shape: [1, 2] }] },
        sha,
      ),
    ).rejects.toThrow(/has shape 1x2/);
  });

  it('converts face-api to the very bytes fever has always shipped (the version tags stored vectors)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fever-convert-'));
    await convertFaceApiModels(dir);
    const sha = async (id: string) =>
      JSON.parse(await readFile(join(dir, id, 'manifest.json'), 'utf8')).sha256;
    expect(await sha('face-api-expression')).toBe(
      'a07b4b46a9c9c385483e43c44ec11644ab6a6569a51b9b9087534c1a62a222b8',
    );
    expect(await sha('face-api-tiny-face-detector')).toBe(
      'af0d769dfc074ebb727b83cae37c95b260df75edebc47c90747ced401aba5a7e',
    );
  });
});
