import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage, type RgbImage } from './decode.ts';
import { Encoder } from './encoder.ts';
import { cropRegion } from './expression.ts';
import { DEFAULT_MODELS_DIR } from './model-paths.ts';
import type { PixelRect } from './preprocess.ts';
import { HumanEmotionReference } from './reference/human-emotion-reference.ts';
import { maxAbsDiff } from './testing/models.ts';
import { samplePhotos, sharedData } from './testing/paths.ts';

const MANIFEST = join(DEFAULT_MODELS_DIR, 'human-emotion', 'manifest.json');
const ckplus = sharedData('ckplus48');

// The converted ONNX model of Human's emotion network against the tfjs graph model itself, on
// the same face regions: embeddings and probabilities within 1e-4, same top label.
describe("ONNX human-emotion matches Human's tfjs graph model", () => {
  let encoder: Encoder;
  let reference: HumanEmotionReference;

  beforeAll(async () => {
    encoder = await Encoder.create({
      device: 'cpu',
      expressionModel: MANIFEST,
      logger: { info() {}, warn() {} },
    });
    reference = await HumanEmotionReference.create();
  }, 120_000);

  afterAll(async () => {
    await encoder?.close();
  });

  async function compare(
    name: string,
    faces: { image: RgbImage; region: PixelRect; got: Awaited<ReturnType<Encoder['embedCrops']>>[number] }[],
  ) {
    let maxEmbedding = 0;
    let maxProb = 0;
    let sameLabel = 0;
    for (const { image, region, got } of faces) {
      const want = await reference.embed(image, region);
      expect(got.embedding.length).toBe(256);
      maxEmbedding = Math.max(maxEmbedding, maxAbsDiff(got.embedding, want.embedding));
      maxProb = Math.max(maxProb, maxAbsDiff(got.probs!, want.probs));
      if (got.label === want.label) sameLabel++;
    }
    console.log(
      `human-emotion parity ${name}: ${faces.length} faces, same label ${sameLabel}, ` +
        `max |embedding diff| ${maxEmbedding.toExponential(2)}, max |prob diff| ${maxProb.toExponential(2)}`,
    );
    expect(sameLabel).toBe(faces.length);
    expect(maxEmbedding).toBeLessThanOrEqual(1e-4);
    expect(maxProb).toBeLessThanOrEqual(1e-4);
  }

  it.each(samplePhotos().map((p) => [basename(p), p]))('faces detected in %s', async (name, path) => {
    const image = await decodeImage(path);
    const [faces] = await encoder.encode([image]);
    expect(faces!.length).toBeGreaterThan(0);
    await compare(
      name,
      faces!.map((got) => ({ image, region: cropRegion(got.box, image), got })),
    );
  });

  it.skipIf(!ckplus)(
    'CK+48 crops (every 4th of 981)',
    async () => {
      const rows = readFileSync(join(ckplus!, 'labels.csv'), 'utf8').trim().split('\n').slice(1);
      const paths = rows.filter((_, i) => i % 4 === 0).map((r) => join(ckplus!, r.split(',')[0]!));
      const images = await Promise.all(paths.map((p) => decodeImage(p)));
      const faces = await encoder.embedCrops(images);
      await compare(
        'CK+48',
        images.map((image, i) => ({
          image,
          region: { x: 0, y: 0, width: image.width, height: image.height },
          got: faces[i]!,
        })),
      );
    },
    120_000,
  );
});
