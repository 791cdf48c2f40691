import { basename } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage, type RgbImage } from './decode.ts';
import { Encoder } from './encoder.ts';
import { cropRegion } from './expression.ts';
import { openFaceNetwork } from './face-network.ts';
import { LandmarkModel } from './landmarks.ts';
import { DEFAULT_IDENTITY_MANIFEST, DEFAULT_LANDMARKS_MANIFEST, DEFAULT_MODELS_DIR } from './model-paths.ts';
import { FaceApiReference } from './reference/face-api-reference.ts';
import { maxAbsDiff } from './testing/models.ts';
import { samplePhotos } from './testing/paths.ts';

const quiet = { info() {}, warn() {} };
const SSD = `${DEFAULT_MODELS_DIR}face-api-ssd-mobilenetv1/manifest.json`;

// face-api's SSD detector, 68-point landmark net and recognition net, converted to ONNX, against
// face-api's own tfjs nets on the demo photos and the faces found in them.
describe('ONNX face-api SSD, landmark and recognition nets match face-api', () => {
  let reference: FaceApiReference;
  let ssd: Encoder;
  let landmarks: LandmarkModel;
  let identity: Encoder;
  let photos: { name: string; image: RgbImage }[];

  beforeAll(async () => {
    reference = await FaceApiReference.create();
    ssd = await Encoder.create({ device: 'cpu', detectorModel: SSD, logger: quiet });
    identity = await Encoder.create({
      device: 'cpu',
      identityModel: DEFAULT_IDENTITY_MANIFEST,
      logger: quiet,
    });
    landmarks = new LandmarkModel(await openFaceNetwork(DEFAULT_LANDMARKS_MANIFEST));
    photos = await Promise.all(
      samplePhotos().map(async (p) => ({ name: basename(p), image: await decodeImage(p) })),
    );
  }, 180_000);

  afterAll(async () => {
    await Promise.all([ssd?.close(), identity?.close(), landmarks?.close()]);
  });

  it('SSD MobileNet v1: same faces, boxes and scores', async () => {
    let faces = 0;
    let maxBox = 0;
    let maxScore = 0;
    for (const { name, image } of photos) {
      const want = await reference.detectSsd(image);
      const [got] = await ssd.detector.detect([image]);
      expect(got!.length, name).toBe(want.length);
      want.forEach((w, i) => {
        const g = got![i]!;
        maxBox = Math.max(
          maxBox,
          maxAbsDiff(
            [g.box.x, g.box.y, g.box.width, g.box.height],
            [w.box.x, w.box.y, w.box.width, w.box.height],
          ),
        );
        maxScore = Math.max(maxScore, Math.abs(g.score - w.score));
      });
      faces += want.length;
    }
    console.log(
      `parity ssd: ${faces} faces in ${photos.length} photos, max |box diff| ${maxBox.toExponential(2)} px, max |score diff| ${maxScore.toExponential(2)}`,
    );
    expect(faces).toBeGreaterThan(photos.length);
    expect(maxBox).toBeLessThanOrEqual(0.01);
    expect(maxScore).toBeLessThanOrEqual(1e-4);
  });

  it('68-point landmarks and 128-d descriptors on every detected face', async () => {
    let faces = 0;
    let maxPoint = 0;
    let maxDescriptor = 0;
    for (const { image } of photos) {
      const [found] = await identity.detector.detect([image]);
      const crops = found!.map((d) => ({ image, region: cropRegion(d.box, image) }));
      const points = await landmarks.locate(crops);
      const descriptors = await identity.identity!.network.run(crops, ['descriptor']);
      for (const [i, crop] of crops.entries()) {
        const { region } = crop;
        const want = await reference.landmarks(image, region);
        // Ours are in image pixels, face-api's in the crop's: compare relative to the crop's side.
        const side = Math.max(region.width, region.height);
        const ours = points[i]!.map((v, k) => (v - (k % 2 === 0 ? region.x : region.y)) / side);
        maxPoint = Math.max(
          maxPoint,
          maxAbsDiff(
            ours,
            want.map((v) => v / side),
          ),
        );
        maxDescriptor = Math.max(
          maxDescriptor,
          maxAbsDiff(descriptors[i]![0]!, await reference.descriptor(image, region)),
        );
      }
      faces += crops.length;
    }
    console.log(
      `parity landmarks/recognition: ${faces} faces, max |landmark diff| ${maxPoint.toExponential(2)} of the crop side, ` +
        `max |raw descriptor diff| ${maxDescriptor.toExponential(2)}`,
    );
    expect(faces).toBeGreaterThan(photos.length);
    expect(maxPoint).toBeLessThanOrEqual(1e-4);
    expect(maxDescriptor).toBeLessThanOrEqual(1e-4);
  });
});
