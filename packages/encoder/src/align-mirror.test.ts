import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mirroredCrop, rotatedCrop } from './crop-transforms.ts';
import { decodeImage, type RgbImage } from './decode.ts';
import { Encoder } from './encoder.ts';
import { openFaceNetwork } from './face-network.ts';
import { eyeLineAngle, LandmarkModel } from './landmarks.ts';
import {
  DEFAULT_LANDMARKS_MANIFEST,
  DEFAULT_MODELS_DIR,
  FACE_API_EXPRESSION_MANIFEST,
} from './model-paths.ts';
import type { FaceCrop } from './preprocess.ts';
import { maxAbsDiff } from './testing/models.ts';
import { samplePhotos } from './testing/paths.ts';

const quiet = { info() {}, warn() {} };

const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);

// Eye alignment and test-time mirroring, options of any expression model (manifest `align`, `mirror`).
describe('align and mirror', () => {
  const encoders: Record<'plain' | 'mirror' | 'align', Encoder> = {} as never;
  let faces: FaceCrop[];
  let landmarks: LandmarkModel;

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fever-options-'));
    const plain = JSON.parse(await readFile(FACE_API_EXPRESSION_MANIFEST, 'utf8'));
    const file = join(DEFAULT_MODELS_DIR, 'face-api-expression', 'model.onnx');
    for (const [name, extra] of [
      ['plain', {}],
      ['mirror', { mirror: true }],
      ['align', { align: 'eyes' }],
    ] as const) {
      const path = join(dir, `${name}.json`);
      await writeFile(path, JSON.stringify({ ...plain, file, ...extra }));
      encoders[name] = await Encoder.create({ device: 'cpu', expressionModel: path, logger: quiet });
    }
    // Square crops around the faces of a demo photo: a mirrored square crop is the crop of the mirror image.
    const image = await decodeImage(samplePhotos()[2]!);
    const [found] = await encoders.plain.encode([image]);
    faces = found!.map(({ box }) => {
      const side = Math.floor(Math.min(box.width, box.height));
      return { image, region: { x: Math.floor(box.x), y: Math.floor(box.y), width: side, height: side } };
    });
    landmarks = new LandmarkModel(await openFaceNetwork(DEFAULT_LANDMARKS_MANIFEST));
  }, 120_000);

  afterAll(async () => {
    await Promise.all([...Object.values(encoders).map((e) => e.close()), landmarks?.close()]);
  });

  const embed = async (encoder: Encoder, images: RgbImage[]) =>
    (await encoder.embedCrops(images)).map((f) => f.embedding);

  /** A crop as an image of its own (embedCrops takes whole images); see the first test. */
  const crop = (face: FaceCrop) => rotatedCrop(face, 0).image;

  it('a zero rotation gives the crop its own pixels', () => {
    const { image, region } = faces[0]!;
    const out = rotatedCrop(faces[0]!, 0).image;
    for (let y = 0; y < region.height; y++) {
      const row = image.data.subarray(
        ((region.y + y) * image.width + region.x) * 3,
        ((region.y + y) * image.width + region.x + region.width) * 3,
      );
      expect(maxAbsDiff(out.data.subarray(y * region.width * 3, (y + 1) * region.width * 3), row)).toBe(0);
    }
  });

  it('mirroring: a face and its mirror image get the same embedding, and the version says so', async () => {
    expect(faces.length).toBeGreaterThan(1);
    const own = faces.map(crop);
    const mirrored = faces.map((f) => mirroredCrop(f).image);
    const withMirror = await embed(encoders.mirror, own);
    const ofMirror = await embed(encoders.mirror, mirrored);
    const plain = await embed(encoders.plain, own);
    const plainOfMirror = await embed(encoders.plain, mirrored);
    let worstMirrored = 1;
    let worstPlain = 1;
    for (let i = 0; i < faces.length; i++) {
      worstMirrored = Math.min(worstMirrored, cosine(withMirror[i]!, ofMirror[i]!));
      worstPlain = Math.min(worstPlain, cosine(plain[i]!, plainOfMirror[i]!));
    }
    console.log(
      `mirror: lowest cosine of a face and its mirror image ${worstMirrored.toFixed(6)} with mirror on, ${worstPlain.toFixed(4)} off`,
    );
    expect(worstMirrored).toBeGreaterThan(1 - 1e-6);
    expect(worstPlain).toBeLessThan(0.999);
    expect(encoders.mirror.model.version).toBe(`${encoders.plain.model.version}+mirror`);
  });

  it('landmarks find the eye line a rotation put there', async () => {
    const [before] = await landmarks.locate([faces[0]!]);
    const turned = rotatedCrop(faces[0]!, 0.3);
    const [after] = await landmarks.locate([turned]);
    const a0 = eyeLineAngle(before!);
    const a1 = eyeLineAngle(after!);
    console.log(`align: eye line ${a0.toFixed(3)} rad, after a 0.3 rad rotation ${a1.toFixed(3)} rad`);
    expect(Math.abs(a1 - (a0 - 0.3))).toBeLessThan(0.05);
  });

  it('alignment: a tilted copy of a face embeds closer to the face with align on than off', async () => {
    const tilted = faces.map((f) => rotatedCrop(f, -0.35));
    let gainSum = 0;
    for (const [i, face] of faces.entries()) {
      const [a, b] = await encoders.align.embedCrops([crop(face), tilted[i]!.image]);
      const [c, d] = await encoders.plain.embedCrops([crop(face), tilted[i]!.image]);
      gainSum += cosine(a!.embedding, b!.embedding) - cosine(c!.embedding, d!.embedding);
    }
    console.log(
      `align: mean cosine gain, face vs its 20° tilted copy: ${(gainSum / faces.length).toFixed(4)}`,
    );
    expect(gainSum / faces.length).toBeGreaterThan(0);
    expect(encoders.align.model.version).toMatch(/\+align\.eyes\.[0-9a-f]{8}$/);
  });
});
