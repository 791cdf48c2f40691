import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { RgbImage } from '../decode.ts';
import type { Box } from '../detector.ts';
import { l2Normalize } from '../expression.ts';
import type { PixelRect } from '../preprocess.ts';

/**
 * The face-api tfjs pipeline that fever's ONNX path must reproduce: face-api's node-wasm build on
 * @tensorflow/tfjs + tfjs-backend-wasm (devDependencies). Used by the parity tests and the encoder
 * benchmark only; it runs single-threaded in Node.
 */
export interface ReferenceFace {
  box: Box;
  score: number;
  embedding: Float32Array;
  probs: Float32Array;
  label: string;
}

// face-api's FaceExpressions label order, which is also fever's.
const LABELS = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'];

// biome-ignore lint/suspicious/noExplicitAny: face-api's CJS build has no usable types here
type FaceApi = any;

export class FaceApiReference {
  private constructor(
    private readonly faceapi: FaceApi,
    private readonly options: { inputSize: number; scoreThreshold: number },
    private readonly modelDir: string,
  ) {}

  static async create(options = { inputSize: 416, scoreThreshold: 0.5 }): Promise<FaceApiReference> {
    const require = createRequire(import.meta.url);
    const faceapi: FaceApi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
    await faceapi.tf.setBackend('wasm');
    await faceapi.tf.ready();
    const modelDir = join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
    await faceapi.nets.tinyFaceDetector.loadFromDisk(modelDir);
    await faceapi.nets.faceExpressionNet.loadFromDisk(modelDir);
    return new FaceApiReference(faceapi, options, modelDir);
  }

  /** One of face-api's nets, loaded from its package on first use. */
  private async net(name: 'ssdMobilenetv1' | 'faceLandmark68Net' | 'faceRecognitionNet') {
    const net = this.faceapi.nets[name];
    if (!net.isLoaded) await net.loadFromDisk(this.modelDir);
    return net;
  }

  /** SsdMobilenetv1.locateFaces (face-api's defaults: minConfidence 0.5, maxResults 100). */
  async detectSsd(image: RgbImage, options = { minConfidence: 0.5, maxResults: 100 }) {
    const net = await this.net('ssdMobilenetv1');
    const tensor = this.faceapi.tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
    try {
      const found = await net.locateFaces(tensor, new this.faceapi.SsdMobilenetv1Options(options));
      return (found as { box: Box; score: number }[]).map((d) => ({
        box: { x: d.box.x, y: d.box.y, width: d.box.width, height: d.box.height },
        score: d.score,
      }));
    } finally {
      tensor.dispose();
    }
  }

  /** FaceLandmark68Net.detectLandmarks on `region`: 68 (x, y) pairs in the region's pixels. */
  async landmarks(image: RgbImage, region: PixelRect): Promise<Float32Array> {
    const net = await this.net('faceLandmark68Net');
    return this.onRegion(image, region, async (face) => {
      const found = await net.detectLandmarks(face);
      return Float32Array.from((found.positions as { x: number; y: number }[]).flatMap((p) => [p.x, p.y]));
    });
  }

  /** FaceRecognitionNet.computeFaceDescriptor on `region`: the raw 128-d descriptor. */
  async descriptor(image: RgbImage, region: PixelRect): Promise<Float32Array> {
    const net = await this.net('faceRecognitionNet');
    return this.onRegion(image, region, async (face) =>
      Float32Array.from(await net.computeFaceDescriptor(face)),
    );
  }

  /** `region` of the image as the int32 tensor extractFaceTensors would cut. */
  private async onRegion<T>(
    image: RgbImage,
    region: PixelRect,
    run: (face: unknown) => Promise<T>,
  ): Promise<T> {
    const { tf } = this.faceapi;
    const tensor = tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
    const face = tf.slice3d(tensor, [region.y, region.x, 0], [region.height, region.width, 3]);
    try {
      return await run(face);
    } finally {
      tf.dispose([tensor, face]);
    }
  }

  /** detectAllFaces(TinyFaceDetector) + expressions, with the 256-d pooled feature of each face. */
  async encode(image: RgbImage): Promise<ReferenceFace[]> {
    const { tf, nets, TinyFaceDetectorOptions, extractFaceTensors } = this.faceapi;
    const tensor = tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
    try {
      const detections = await nets.tinyFaceDetector.locateFaces(
        tensor,
        new TinyFaceDetectorOptions(this.options),
      );
      const crops = await extractFaceTensors(tensor, detections);
      const faces: ReferenceFace[] = [];
      for (const [i, crop] of crops.entries()) {
        const det = detections[i];
        faces.push({
          box: { x: det.box.x, y: det.box.y, width: det.box.width, height: det.box.height },
          score: det.score,
          ...(await this.embedTensor(crop)),
        });
        crop.dispose();
      }
      return faces;
    } finally {
      tensor.dispose();
    }
  }

  /** The expression path only, on a pre-cropped face (the whole image is the face). */
  async embedCrop(image: RgbImage): Promise<Omit<ReferenceFace, 'box' | 'score'>> {
    const tensor = this.faceapi.tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
    try {
      return await this.embedTensor(tensor);
    } finally {
      tensor.dispose();
    }
  }

  /** One pass of face-api's expression net on a crop (predictExpressions), for fair timing. */
  async predictCrop(image: RgbImage): Promise<void> {
    const tensor = this.faceapi.tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
    try {
      await this.faceapi.nets.faceExpressionNet.predictExpressions(tensor);
    } finally {
      tensor.dispose();
    }
  }

  // Two passes: the pooled feature (faceFeatureExtractor) and face-api's own probabilities.
  private async embedTensor(face: unknown) {
    const { nets, toNetInput } = this.faceapi;
    const net = nets.faceExpressionNet;
    const pooled = net.faceFeatureExtractor.forwardInput(await toNetInput(face));
    const embedding = l2Normalize(new Float32Array(await pooled.data()));
    pooled.dispose();
    const expressions = await net.predictExpressions(face);
    const probs = Float32Array.from(LABELS.map((l) => expressions[l] as number));
    let best = 0;
    for (let k = 1; k < probs.length; k++) if (probs[k]! > probs[best]!) best = k;
    return { embedding, probs, label: LABELS[best]! };
  }
}
