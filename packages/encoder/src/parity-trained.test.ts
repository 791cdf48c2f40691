import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { loadModel } from './manifest.ts';
import { DEFAULT_MODELS_DIR } from './model-paths.ts';
import { maxAbsDiff } from './testing/models.ts';

const TRAINED_DIR = new URL('../trained/', import.meta.url).pathname;
const trained = readdirSync(TRAINED_DIR, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name);

/** The probe finetune_face_api.py records: a smooth RGB pattern, channel-major. */
function probeInput(size: number): Float32Array {
  const out = new Float32Array(3 * size * size);
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < size; i++)
      for (let j = 0; j < size; j++)
        out[(c * size + i) * size + j] = 127.5 + 127.5 * Math.sin(0.11 * i + 0.07 * j + c);
  return out;
}

// Each network fever fine-tuned (packages/train/python) against the torch network that wrote its
// weights: the ONNX model that `npm run models` builds from them gives the feature and the
// probabilities that training recorded for a fixed probe, within 1e-4.
describe('ONNX models of the fine-tuned networks match their training', () => {
  it('ships at least one fine-tuned network', () => {
    expect(trained.length).toBeGreaterThan(0);
  });

  it.each(trained)('%s', async (name) => {
    const record = JSON.parse(readFileSync(join(TRAINED_DIR, name, 'training.json'), 'utf8'));
    const { manifest, bytes } = await loadModel(join(DEFAULT_MODELS_DIR, record.id, 'manifest.json'));
    const size: number = record.input.size;
    expect(manifest.input.size).toEqual([size, size]);
    const pixels = probeInput(size);
    const { mean, std } = manifest.input;
    const data = pixels.map((v, k) => {
      const c = Math.floor(k / (size * size));
      return (v - mean[c]!) / std[c]!;
    });
    const session = await ort.InferenceSession.create(bytes);
    try {
      const out = await session.run({
        [manifest.input.name]: new ort.Tensor('float32', data, [1, 3, size, size]),
      });
      const embedding = out[manifest.outputs.embedding!]!.data as Float32Array;
      const probs = out[manifest.outputs.probs!]!.data as Float32Array;
      expect(maxAbsDiff(embedding, record.probe.embedding)).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(probs, record.probe.probs)).toBeLessThanOrEqual(1e-4);
    } finally {
      await session.release();
    }
  });
});
