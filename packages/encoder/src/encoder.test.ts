import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from './decode.ts';
import { Encoder } from './encoder.ts';
import { cropRegion } from './expression.ts';
import { FACE_API_EXPRESSION_MANIFEST } from './model-paths.ts';
import { attr, GraphBuilder } from './onnx/graph.ts';
import { sha256Bytes } from './sha256.ts';
import { samplePhotos } from './testing/paths.ts';

const quiet = { info() {}, warn() {} };

describe('Encoder', () => {
  let encoder: Encoder;
  let dir: string;

  beforeAll(async () => {
    encoder = await Encoder.create({ device: 'cpu', logger: quiet });
    dir = await mkdtemp(join(tmpdir(), 'fever-encoder-'));
  });

  afterAll(async () => {
    await encoder?.close();
  });

  it('finds nothing, without an error, in an image with no face', async () => {
    const blank = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#6a8caf' } })
      .png()
      .toBuffer();
    const [faces] = await encoder.encode([await decodeImage(blank, { name: 'blank.png' })]);
    expect(faces).toEqual([]);
  });

  it('lands the box on the face of an EXIF-rotated photo', async () => {
    const [upright] = samplePhotos().slice(1, 2);
    const original = await decodeImage(upright!);
    const expected = (await encoder.encode([original]))[0]![0]!;
    // Store the pixels rotated 90° anticlockwise and tag orientation 6 ("rotate 90° clockwise to view").
    const rotated = join(dir, 'rotated.jpg');
    await sharp(upright!).rotate(270).withMetadata({ orientation: 6 }).jpeg({ quality: 95 }).toFile(rotated);
    const meta = await sharp(rotated).metadata();
    expect(meta.orientation).toBe(6);
    const image = await decodeImage(rotated);
    expect([image.width, image.height]).toEqual([original.width, original.height]);
    const [faces] = await encoder.encode([image]);
    expect(faces).toHaveLength(1);
    const got = faces![0]!.box;
    const tolerance = expected.box.width * 0.05; // JPEG re-encoding moves pixels a little
    expect(Math.abs(got.x - expected.box.x)).toBeLessThan(tolerance);
    expect(Math.abs(got.y - expected.box.y)).toBeLessThan(tolerance);
  });

  it('batches faces from several images and keeps them with their image', async () => {
    const images = await Promise.all(samplePhotos().map((p) => decodeImage(p)));
    const together = await encoder.encode(images);
    const alone = await Promise.all(images.map(async (img) => (await encoder.encode([img]))[0]!));
    expect(together.map((f) => f.length)).toEqual(alone.map((f) => f.length));
    for (const [i, faces] of together.entries()) {
      for (const [j, face] of faces.entries()) {
        const other = alone[i]![j]!;
        expect(face.label).toBe(other.label);
        face.embedding.forEach((v, k) => {
          expect(Math.abs(v - other.embedding[k]!)).toBeLessThan(1e-5);
        });
      }
    }
  });

  it('embeds given boxes and refuses a box outside the image', async () => {
    const image = await decodeImage(samplePhotos()[1]!);
    const detected = (await encoder.encode([image]))[0]![0]!;
    const [byBox] = await encoder.embedBoxes(image, [detected.box]);
    expect(byBox!.label).toBe(detected.label);
    expect(byBox!.embedding.length).toBe(encoder.model.embeddingDims);
    await expect(
      encoder.embedBoxes(image, [{ x: image.width + 10, y: 0, width: 50, height: 50 }]),
    ).rejects.toMatchObject({ code: 'FACE_BOX_EMPTY' });
  });

  it('returns L2-normalised embeddings', async () => {
    const [faces] = await encoder.encode([await decodeImage(samplePhotos()[0]!)]);
    for (const f of faces!) {
      const norm = Math.sqrt(f.embedding.reduce((s, v) => s + v * v, 0));
      expect(norm).toBeCloseTo(1, 5);
      expect(f.probs!.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
    }
  });
});

describe('model manifests', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fever-manifest-'));
  });

  it('runs a user model described by a manifest (greyscale NHWC input, no classifier)', async () => {
    // A real ONNX model built here: mean over the 16×16 input, one value per image.
    const g = new GraphBuilder('user_model');
    const x = g.input('pixels', ['n', 16, 16, 1]);
    const nchw = g.node('Transpose', [x], { perm: attr.ints([0, 3, 1, 2]) });
    g.node('Flatten', [g.node('GlobalAveragePool', [nchw])], { axis: attr.int(1) }, 'vec');
    g.output('vec', ['n', 1]);
    const onnx = g.toModel({ producer: 'test', producerVersion: '0', opset: 17 });
    await writeFile(join(dir, 'user.onnx'), onnx);
    const manifest = {
      id: 'user-mean',
      version: '1',
      task: 'expression',
      file: 'user.onnx',
      sha256: sha256Bytes(onnx),
      input: {
        name: 'pixels',
        size: [16, 16],
        layout: 'NHWC',
        channels: 'GRAY',
        mean: [0],
        std: [255],
        crop: 'stretch',
      },
      outputs: { embedding: 'vec' },
      embeddingDims: 1,
    };
    await writeFile(join(dir, 'user.json'), JSON.stringify(manifest));
    const encoder = await Encoder.create({
      device: 'cpu',
      expressionModel: join(dir, 'user.json'),
      logger: quiet,
    });
    const grey = await sharp({
      create: { width: 30, height: 20, channels: 3, background: { r: 51, g: 51, b: 51 } },
    })
      .png()
      .toBuffer();
    const [face] = await encoder.embedCrops([await decodeImage(grey)]);
    expect(Array.from(face!.embedding)).toEqual([1]); // L2-normalised positive scalar
    expect(face!.label).toBeNull();
    expect(encoder.model.id).toBe('user-mean');
    await encoder.close();
  });

  it('refuses a model whose sha256 does not match its manifest', async () => {
    const manifest = JSON.parse(await readFile(FACE_API_EXPRESSION_MANIFEST, 'utf8'));
    manifest.sha256 = '0'.repeat(64);
    manifest.file = join(FACE_API_EXPRESSION_MANIFEST, '..', 'model.onnx');
    await writeFile(join(dir, 'tampered.json'), JSON.stringify(manifest));
    await expect(
      Encoder.create({ expressionModel: join(dir, 'tampered.json'), logger: quiet }),
    ).rejects.toMatchObject({
      code: 'MODEL_CHECKSUM_MISMATCH',
    });
  });

  it('names the field of an invalid manifest', async () => {
    await writeFile(join(dir, 'bad.json'), JSON.stringify({ id: 'x', version: '1', task: 'expression' }));
    const err = await Encoder.create({ expressionModel: join(dir, 'bad.json'), logger: quiet }).catch(
      (e) => e,
    );
    expect(err.code).toBe('MODEL_MANIFEST_INVALID');
    expect(err.message).toContain('sha256');
    expect(err.message).toContain('bad.json');
  });

  it('says which manifest is missing', async () => {
    const err = await Encoder.create({ expressionModel: join(dir, 'nope.json'), logger: quiet }).catch(
      (e) => e,
    );
    expect(err.code).toBe('MODEL_NOT_FOUND');
    expect(err.message).toContain('nope.json');
  });

  it('refuses a detector where an expression model is needed', async () => {
    const detector = join(
      FACE_API_EXPRESSION_MANIFEST,
      '..',
      '..',
      'face-api-tiny-face-detector',
      'manifest.json',
    );
    await expect(Encoder.create({ expressionModel: detector, logger: quiet })).rejects.toMatchObject({
      code: 'MODEL_WRONG_TASK',
    });
  });
});

describe('execution providers', () => {
  it('fails with the reason when CUDA is asked for and cannot load, never falling back', async () => {
    const { cudaProviderInstalled } = await import('./session.ts');
    if (cudaProviderInstalled()) {
      console.warn('SKIPPED: the CUDA provider is installed here, so the no-CUDA error path cannot be shown');
      return;
    }
    const err = await Encoder.create({ device: 'cuda', logger: quiet }).catch((e) => e);
    expect(err.code).toBe('CUDA_UNAVAILABLE');
    expect(err.message).toMatch(/FEVER_DEVICE=cuda/);
    expect(err.message).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12/);
  });

  it('auto picks the CPU here and says so', async () => {
    const lines: string[] = [];
    const encoder = await Encoder.create({
      device: 'auto',
      logger: { info: (_f, m) => lines.push(m), warn: (_f, m) => lines.push(m) },
    });
    expect(encoder.provider).toBe(process.env.FEVER_EXPECT_PROVIDER ?? 'cpu');
    expect(lines.some((l) => l.includes(`running on ${encoder.provider}`))).toBe(true);
    await encoder.close();
  });
});

describe('identity descriptors', () => {
  it('with an identity model, each face carries a unit 128-d descriptor, nearest to its own re-crop', async () => {
    const { DEFAULT_IDENTITY_MANIFEST } = await import('./model-paths.ts');
    const encoder = await Encoder.create({
      device: 'cpu',
      identityModel: DEFAULT_IDENTITY_MANIFEST,
      logger: quiet,
    });
    try {
      const images = await Promise.all(samplePhotos().map((p) => decodeImage(p)));
      const faces = (await encoder.encode(images)).flatMap((f, i) =>
        f.map((face) => ({ face, image: images[i]! })),
      );
      expect(faces.length).toBeGreaterThan(10);
      const cos = (a: Float32Array, b: Float32Array) => a.reduce((s, v, k) => s + v * b[k]!, 0);
      for (const { face } of faces) {
        expect(face.identity).toHaveLength(128);
        expect(Math.abs(Math.sqrt(cos(face.identity!, face.identity!)) - 1)).toBeLessThan(1e-5);
      }
      // The same face boxed 6% larger is still its own nearest face among all the others.
      for (const { face, image } of faces.slice(0, 6)) {
        const { box } = face;
        const grown = {
          x: box.x - box.width * 0.03,
          y: box.y - box.height * 0.03,
          width: box.width * 1.06,
          height: box.height * 1.06,
        };
        const [again] = await encoder.embedBoxes(image, [grown]);
        const others = faces
          .filter((f) => f.face !== face)
          .map((f) => cos(again!.identity!, f.face.identity!));
        expect(cos(again!.identity!, face.identity!)).toBeGreaterThan(Math.max(...others));
      }
    } finally {
      await encoder.close();
    }
  });

  it('aligns each face to its landmarks first: a looser or shifted box moves the descriptor less', async () => {
    const { DEFAULT_IDENTITY_MANIFEST } = await import('./model-paths.ts');
    const { IdentityModel } = await import('./identity.ts');
    const encoder = await Encoder.create({
      device: 'cpu',
      identityModel: DEFAULT_IDENTITY_MANIFEST,
      logger: quiet,
    });
    try {
      const unaligned = new IdentityModel(encoder.identity!.network);
      const cos = (a: Float32Array, b: Float32Array) => a.reduce((s, v, k) => s + v * b[k]!, 0);
      const images = await Promise.all(samplePhotos().map((p) => decodeImage(p)));
      const found = await encoder.detector.detect(images);
      let aligned = 0;
      let plain = 0;
      let n = 0;
      for (const [i, image] of images.entries()) {
        for (const d of found[i]!.slice(0, 3)) {
          const { box } = d;
          const moved = {
            x: box.x + box.width * 0.08,
            y: box.y - box.height * 0.05,
            width: box.width * 1.15,
            height: box.height * 1.15,
          };
          const crops = [box, moved].map((b) => ({ image, region: cropRegion(b, image) }));
          const [a0, a1] = await encoder.identity!.describe(crops);
          const [p0, p1] = await unaligned.describe(crops);
          aligned += cos(a0!, a1!);
          plain += cos(p0!, p1!);
          n++;
        }
      }
      expect(n).toBeGreaterThan(6);
      expect(aligned / n).toBeGreaterThan(plain / n);
    } finally {
      await encoder.close();
    }
  });

  it('refuses a manifest of another task as the identity model', async () => {
    await expect(
      Encoder.create({ device: 'cpu', identityModel: FACE_API_EXPRESSION_MANIFEST, logger: quiet }),
    ).rejects.toMatchObject({ code: 'MODEL_WRONG_TASK' });
  });
});
