import { fileURLToPath } from 'node:url';
import type { RgbImage } from './decode.ts';
import { type Box, DEFAULT_DETECTOR_OPTIONS, type DetectorOptions, FaceDetector } from './detector.ts';
import { ModelError } from './errors.ts';
import { cropRegion, ExpressionModel, type ExpressionResult } from './expression.ts';
import { type LoadedModel, loadModel, type ModelManifest } from './manifest.ts';
import { createSession, type Device, type ExecutionProvider } from './session.ts';

export interface Face extends ExpressionResult {
  /** Face box in image pixels (top-left x, y, width, height). */
  box: Box;
  /** Detector confidence 0..1; 1 for a box the caller gave. */
  score: number;
}

/** pino-compatible, so callers can pass their own logger. */
export interface EncoderLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface EncoderOptions {
  device?: Device;
  /** onnxruntime intra-op threads; 0 = one per physical core. */
  threads?: number;
  detector?: Partial<DetectorOptions>;
  /** Manifest of the expression model; the converted face-api model by default. */
  expressionModel?: string;
  /** Manifest of the face detector; the converted face-api TinyFaceDetector by default. */
  detectorModel?: string;
  /** Faces per expression-network run. */
  batchSize?: number;
  /** Images per detector run. */
  detectBatchSize?: number;
  logger?: EncoderLogger;
}

export const DEFAULT_MODELS_DIR = fileURLToPath(new URL('../models/', import.meta.url));
export const DEFAULT_EXPRESSION_MANIFEST = `${DEFAULT_MODELS_DIR}face-api-expression/manifest.json`;
export const DEFAULT_DETECTOR_MANIFEST = `${DEFAULT_MODELS_DIR}face-api-tiny-face-detector/manifest.json`;

const stderrLogger: EncoderLogger = {
  info: (fields, message) =>
    process.stderr.write(`${JSON.stringify({ level: 'info', msg: message, ...fields })}\n`),
  warn: (fields, message) =>
    process.stderr.write(`${JSON.stringify({ level: 'warn', msg: message, ...fields })}\n`),
};

/**
 * decode → detect → crop → expression embedding. One instance holds two onnxruntime sessions;
 * it is safe to call concurrently (onnxruntime serialises runs on a session).
 */
export class Encoder {
  private constructor(
    readonly detector: FaceDetector,
    readonly expression: ExpressionModel,
    private readonly detectBatchSize: number,
  ) {}

  static async create(options: EncoderOptions = {}): Promise<Encoder> {
    const logger = options.logger ?? stderrLogger;
    const device = options.device ?? 'auto';
    const threads = options.threads ?? 0;
    const [detectorModel, expressionModel] = await Promise.all([
      loadModel(options.detectorModel ?? DEFAULT_DETECTOR_MANIFEST),
      loadModel(options.expressionModel ?? DEFAULT_EXPRESSION_MANIFEST),
    ]);
    expectTask(detectorModel, 'face-detector');
    expectTask(expressionModel, 'expression');
    const sessionOptions = { device, threads };
    const det = await createSession(detectorModel.bytes, describe(detectorModel.manifest), sessionOptions);
    const expr = await createSession(
      expressionModel.bytes,
      describe(expressionModel.manifest),
      sessionOptions,
    );
    for (const s of [det, expr]) {
      if (s.fallbackReason) {
        logger.warn({ device, reason: s.fallbackReason }, 'CUDA provider did not load; running on the CPU');
      }
    }
    logger.info(
      {
        device,
        provider: expr.provider,
        threads: threads || 'auto',
        detector: describe(detectorModel.manifest),
        model: describe(expressionModel.manifest),
      },
      `encoder running on ${expr.provider}`,
    );
    const detector = new FaceDetector(det.session, detectorModel, det.provider, {
      ...DEFAULT_DETECTOR_OPTIONS,
      ...options.detector,
    });
    const expression = new ExpressionModel(
      expr.session,
      expressionModel,
      expr.provider,
      options.batchSize ?? 32,
    );
    return new Encoder(detector, expression, options.detectBatchSize ?? 8);
  }

  get provider(): ExecutionProvider {
    return this.expression.provider;
  }

  get model(): ModelManifest {
    return this.expression.manifest;
  }

  async close(): Promise<void> {
    await Promise.all([this.detector.close(), this.expression.close()]);
  }

  /** Detects every face in every image and embeds them; faces from all images share batches. */
  async encode(images: RgbImage[]): Promise<Face[][]> {
    const detections = [];
    for (let start = 0; start < images.length; start += this.detectBatchSize) {
      detections.push(...(await this.detector.detect(images.slice(start, start + this.detectBatchSize))));
    }
    const crops = [];
    const owners: { image: number; box: Box; score: number }[] = [];
    for (const [i, image] of images.entries()) {
      for (const d of detections[i]!) {
        const region = tryCropRegion(d.box, image);
        // A box wholly outside the image has no pixels to embed; face-api drops it too.
        if (!region) continue;
        crops.push({ image, region });
        owners.push({ image: i, box: d.box, score: d.score });
      }
    }
    const embedded = await this.expression.embed(crops);
    const faces: Face[][] = images.map(() => []);
    embedded.forEach((result, k) => {
      const owner = owners[k]!;
      faces[owner.image]!.push({ box: owner.box, score: owner.score, ...result });
    });
    return faces;
  }

  /** Embeds given face boxes (FEC triplets, pre-annotated datasets) without running the detector. */
  async embedBoxes(image: RgbImage, boxes: Box[]): Promise<Face[]> {
    const crops = boxes.map((box) => ({ image, region: cropRegion(box, image) }));
    const embedded = await this.expression.embed(crops);
    return embedded.map((result, i) => ({ box: boxes[i]!, score: 1, ...result }));
  }

  /** Embeds images that are already face crops (CK+, FER2013): the whole image is the face. */
  async embedCrops(images: RgbImage[]): Promise<Face[]> {
    const crops = images.map((image) => ({
      image,
      region: { x: 0, y: 0, width: image.width, height: image.height },
    }));
    const embedded = await this.expression.embed(crops);
    return embedded.map((result, i) => ({
      box: { x: 0, y: 0, width: images[i]!.width, height: images[i]!.height },
      score: 1,
      ...result,
    }));
  }
}

function tryCropRegion(box: Box, image: RgbImage) {
  try {
    return cropRegion(box, image);
  } catch {
    return null;
  }
}

function describe(m: ModelManifest): string {
  return `${m.id}@${m.version}`;
}

function expectTask(model: LoadedModel, task: ModelManifest['task']): void {
  if (model.manifest.task !== task) {
    throw new ModelError(
      'MODEL_WRONG_TASK',
      `${model.manifestPath} is a ${model.manifest.task} model, but a ${task} model is needed here`,
    );
  }
}
