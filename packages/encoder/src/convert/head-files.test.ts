import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../decode.ts';
import { Encoder } from '../encoder.ts';
import { samplePhotos } from '../testing/paths.ts';
import { composeHeadModel } from './face-api.ts';
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
});
