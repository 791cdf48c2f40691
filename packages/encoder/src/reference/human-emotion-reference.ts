import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { RgbImage } from '../decode.ts';
import { l2Normalize } from '../expression.ts';
import type { PixelRect } from '../preprocess.ts';

/**
 * Human's emotion graph model run by tfjs itself (tfjs-converter on the wasm backend), with
 * Human's `emotion.predict` preprocessing applied to fever's face crop: what the converted ONNX
 * model must reproduce. Written from Human's source, not from fever's converter, so the two
 * check each other. Tests and benchmarks only; single-threaded in Node.
 */
export interface EmotionReferenceResult {
  embedding: Float32Array;
  /** In fever's label order. */
  probs: Float32Array;
  label: string;
}

// fever's label order (what the ONNX model's `probs` follow), and where each label sits in
// Human's: angry, disgust, fear, happy, sad, surprise, neutral.
const FEVER = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'];
const FEVER_TO_HUMAN = [6, 3, 4, 0, 2, 1, 5];
// The input of the classifier's last conv (conv2d_5), 256 channels, 8×8 for a 64×64 face.
const FEATURE_NODE = 'StatefulPartitionedCall/model_1/add_2/add';

// biome-ignore lint/suspicious/noExplicitAny: tfjs is loaded untyped from its CJS build
type Tf = any;

export class HumanEmotionReference {
  private constructor(
    private readonly tf: Tf,
    private readonly model: Tf,
  ) {}

  static async create(): Promise<HumanEmotionReference> {
    const require = createRequire(import.meta.url);
    const tf: Tf = require('@tensorflow/tfjs');
    require('@tensorflow/tfjs-backend-wasm');
    await tf.setBackend('wasm');
    await tf.ready();
    const models = join(dirname(dirname(require.resolve('@vladmandic/human'))), 'models');
    const json = JSON.parse(await readFile(join(models, 'emotion.json'), 'utf8'));
    const groups = json.weightsManifest as { paths: string[]; weights: unknown[] }[];
    const shards = await Promise.all(groups.flatMap((g) => g.paths).map((p) => readFile(join(models, p))));
    const weightData = Buffer.concat(shards);
    const model = await tf.loadGraphModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        weightSpecs: groups.flatMap((g) => g.weights),
        weightData: weightData.buffer.slice(
          weightData.byteOffset,
          weightData.byteOffset + weightData.byteLength,
        ),
      }),
    );
    return new HumanEmotionReference(tf, model);
  }

  /**
   * One face: `region` of `image`, padded to a square with the region centred (face-api's
   * padToSquare: the odd pixel at the end), resized to 64×64 with tf.image.resizeBilinear, then
   * Human's greyscale and [-1, 1] scaling.
   */
  async embed(image: RgbImage, region: PixelRect): Promise<EmotionReferenceResult> {
    const { tf } = this;
    const [feature, softmax] = tf.tidy(() => {
      const rgb = tf.tensor3d(image.data, [image.height, image.width, 3], 'int32').toFloat();
      const crop = tf.slice(rgb, [region.y, region.x, 0], [region.height, region.width, 3]);
      const diff = Math.abs(region.width - region.height);
      const after = Math.round(diff * 0.5);
      const pad = [diff - after, after];
      const square = tf.pad(
        crop,
        region.width < region.height ? [[0, 0], pad, [0, 0]] : [pad, [0, 0], [0, 0]],
      );
      const resized = tf.image.resizeBilinear(tf.expandDims(square, 0), [64, 64], false);
      // Human: face tensor / 255, weighted sum of channels, then (grey - 0.5) * 2.
      const norm = tf.div(resized, 255);
      const grey = tf.sum(tf.mul(norm, tf.tensor1d([0.2989, 0.587, 0.114])), 3, true);
      const input = tf.mul(tf.sub(grey, 0.5), 2);
      return this.model.execute(input, [FEATURE_NODE, 'Identity']);
    });
    const pooled = tf.mean(feature, [1, 2]);
    const embedding = l2Normalize(new Float32Array(await pooled.data()));
    const human = new Float32Array(await softmax.data());
    tf.dispose([feature, softmax, pooled]);
    const probs = Float32Array.from(FEVER_TO_HUMAN, (k) => human[k]!);
    let best = 0;
    for (let k = 1; k < probs.length; k++) if (probs[k]! > probs[best]!) best = k;
    return { embedding, probs, label: FEVER[best]! };
  }
}
