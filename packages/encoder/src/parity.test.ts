import { basename } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from './decode.ts';
import { Encoder } from './encoder.ts';
import { FACE_API_EXPRESSION_MANIFEST } from './model-paths.ts';
import { FaceApiReference } from './reference/face-api-reference.ts';
import { samplePhotos } from './testing/paths.ts';

// The ONNX path must reproduce face-api's tfjs pipeline: same faces, boxes within 1 px,
// embeddings within 1e-4, same top label. Tolerances are the issue's; measured values are printed.
describe('ONNX encoder matches the face-api tfjs reference', () => {
  let encoder: Encoder;
  let reference: FaceApiReference;

  beforeAll(async () => {
    // face-api's own network, not the default composite: this is the parity of the conversion.
    encoder = await Encoder.create({
      device: 'cpu',
      expressionModel: FACE_API_EXPRESSION_MANIFEST,
      logger: { info() {}, warn() {} },
    });
    reference = await FaceApiReference.create();
  }, 120_000);

  afterAll(async () => {
    await encoder?.close();
  });

  it.each(samplePhotos().map((p) => [basename(p), p]))('%s', async (_name, path) => {
    const image = await decodeImage(path);
    const expected = await reference.encode(image);
    const [actual] = await encoder.encode([image]);
    expect(expected.length).toBeGreaterThan(0);
    expect(actual!.length).toBe(expected.length);
    let maxBox = 0;
    let maxEmbedding = 0;
    let maxProb = 0;
    expected.forEach((want, i) => {
      const got = actual![i]!;
      for (const k of ['x', 'y', 'width', 'height'] as const)
        maxBox = Math.max(maxBox, Math.abs(got.box[k] - want.box[k]));
      want.embedding.forEach((v, k) => {
        maxEmbedding = Math.max(maxEmbedding, Math.abs(got.embedding[k]! - v));
      });
      want.probs.forEach((v, k) => {
        maxProb = Math.max(maxProb, Math.abs(got.probs![k]! - v));
      });
      expect(got.label).toBe(want.label);
      expect(got.embedding.length).toBe(256);
      expect(Math.abs(got.score - want.score)).toBeLessThan(1e-4);
    });
    console.log(
      `parity ${basename(path)}: ${expected.length} faces, max |box diff| ${maxBox.toExponential(2)} px, ` +
        `max |embedding diff| ${maxEmbedding.toExponential(2)}, max |prob diff| ${maxProb.toExponential(2)}`,
    );
    expect(maxBox).toBeLessThanOrEqual(1);
    expect(maxEmbedding).toBeLessThanOrEqual(1e-4);
  });
});
