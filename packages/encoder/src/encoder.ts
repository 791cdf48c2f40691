import { type ExpressionManifest, loadExpressionModel } from './composite.ts';
import type { RgbImage } from './decode.ts';
import { type Box, type DetectorOptions, FaceDetector } from './detector.ts';
import { EmbeddingHead } from './embedding-head.ts';
import { ModelError } from './errors.ts';
import { cropRegion, ExpressionModel, type ExpressionResult } from './expression.ts';
import { FaceNetwork } from './face-network.ts';
import { IdentityModel } from './identity.ts';
import { LandmarkModel } from './landmarks.ts';
import { type LoadedModel, loadModel } from './manifest.ts';
import { DEFAULT_EXPRESSION_MANIFEST, DEFAULT_LANDMARKS_MANIFEST, detectorManifest } from './model-paths.ts';
import type { FaceCrop } from './preprocess.ts';
import { createSession, type Device, type ExecutionProvider } from './session.ts';

export interface Face extends ExpressionResult {
  /** Face box in image pixels (top-left x, y, width, height). */
  box: Box;
  /** Detector confidence 0..1; 1 for a box the caller gave. */
  score: number;
  /** L2-normalised identity descriptor, when the encoder has an identity model. */
  identity?: Float32Array;
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
  /** Manifest of the expression model (one network or a composite); the converted face-api model by default. */
  expressionModel?: string;
  /**
   * The face detector: a bundled one by name (`tiny`, `tiny-608`, `ssd`) or a manifest path;
   * the converted face-api TinyFaceDetector (`tiny`) by default.
   */
  detectorModel?: string;
  /**
   * Manifest of an identity model (face-api-recognition); faces then carry `identity`, taken on
   * the landmark-aligned crop (face-api-landmark-68 finds the landmarks). None by default.
   */
  identityModel?: string;
  /** Faces per expression-network run. */
  batchSize?: number;
  /** Images per detector run. */
  detectBatchSize?: number;
  logger?: EncoderLogger;
}

export interface EncodeOptions {
  /** false: no identity descriptors this time (a collection indexed without them). Default true. */
  identity?: boolean;
}

const stderrLogger: EncoderLogger = {
  info: (fields, message) =>
    process.stderr.write(`${JSON.stringify({ level: 'info', msg: message, ...fields })}\n`),
  warn: (fields, message) =>
    process.stderr.write(`${JSON.stringify({ level: 'warn', msg: message, ...fields })}\n`),
};

/**
 * decode → detect → crop → expression embedding (+ identity descriptor). One onnxruntime session
 * per network; safe to call concurrently (onnxruntime serialises runs on a session).
 */
export class Encoder {
  private constructor(
    readonly detector: FaceDetector,
    readonly expression: ExpressionModel,
    readonly identity: IdentityModel | null,
    private readonly detectBatchSize: number,
  ) {}

  static async create(options: EncoderOptions = {}): Promise<Encoder> {
    const logger = options.logger ?? stderrLogger;
    const device = options.device ?? 'auto';
    const threads = options.threads ?? 0;
    const batchSize = options.batchSize ?? 32;
    const [detectorModel, spec, identityModel, identityLandmarks] = await Promise.all([
      loadModel(detectorManifest(options.detectorModel)),
      loadExpressionModel(options.expressionModel ?? DEFAULT_EXPRESSION_MANIFEST),
      options.identityModel ? loadModel(options.identityModel) : null,
      options.identityModel ? loadModel(DEFAULT_LANDMARKS_MANIFEST) : null,
    ]);
    expectTask(detectorModel, 'face-detector');
    if (identityModel) expectTask(identityModel, 'face-identity');
    if (identityLandmarks) expectTask(identityLandmarks, 'face-landmarks');
    const sessions: Awaited<ReturnType<typeof createSession>>[] = [];
    const open = async (model: { bytes: Uint8Array; manifest: { id: string; version: string } }) => {
      const s = await createSession(model.bytes, describe(model.manifest), { device, threads });
      if (s.fallbackReason) {
        logger.warn({ device, reason: s.fallbackReason }, 'CUDA provider did not load; running on the CPU');
      }
      sessions.push(s);
      return s;
    };
    const network = async (model: LoadedModel) => {
      const s = await open(model);
      return new FaceNetwork(s.session, model.manifest, s.provider, batchSize);
    };
    try {
      const det = await open(detectorModel);
      const detector = new FaceDetector(det.session, detectorModel, det.provider, options.detector);
      const members = [];
      for (const m of spec.members) members.push({ network: await network(m.model), weight: m.weight });
      const landmarks = spec.landmarks ? new LandmarkModel(await network(spec.landmarks)) : null;
      let head: EmbeddingHead | null = null;
      if (spec.head) {
        const { bytes, inputs, dims } = spec.head;
        const s = await open({
          bytes,
          manifest: { id: `${spec.manifest.id} head`, version: spec.manifest.version },
        });
        head = new EmbeddingHead(s.session, s.provider, inputs, dims);
      }
      const expression = new ExpressionModel(
        spec.manifest,
        members,
        spec.probsFrom,
        landmarks,
        spec.mirror,
        head,
      );
      const identity =
        identityModel && identityLandmarks
          ? new IdentityModel(
              await network(identityModel),
              new LandmarkModel(await network(identityLandmarks)),
            )
          : null;
      logger.info(
        {
          device,
          provider: expression.provider,
          threads: threads || 'auto',
          detector: describe(detectorModel.manifest),
          model: describe(spec.manifest),
          ...(identityModel ? { identity: describe(identityModel.manifest) } : {}),
        },
        `encoder running on ${expression.provider}`,
      );
      return new Encoder(detector, expression, identity, options.detectBatchSize ?? 8);
    } catch (err) {
      await Promise.all(sessions.map((s) => s.session.release()));
      throw err;
    }
  }

  get provider(): ExecutionProvider {
    return this.expression.provider;
  }

  get model(): ExpressionManifest {
    return this.expression.manifest;
  }

  async close(): Promise<void> {
    await Promise.all([this.detector.close(), this.expression.close(), this.identity?.close()]);
  }

  /**
   * Expression results (and identity descriptors, with an identity model, unless `identity` is
   * false) for face crops.
   */
  private async embed(
    crops: FaceCrop[],
    options: EncodeOptions = {},
  ): Promise<(ExpressionResult & { identity?: Float32Array })[]> {
    const embedded = await this.expression.embed(crops);
    if (!this.identity || options.identity === false) return embedded;
    const identities = await this.identity.describe(crops);
    return embedded.map((result, i) => ({ ...result, identity: identities[i]! }));
  }

  /** Detects every face in every image and embeds them; faces from all images share batches. */
  async encode(images: RgbImage[], options: EncodeOptions = {}): Promise<Face[][]> {
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
    const embedded = await this.embed(crops, options);
    const faces: Face[][] = images.map(() => []);
    embedded.forEach((result, k) => {
      const owner = owners[k]!;
      faces[owner.image]!.push({ box: owner.box, score: owner.score, ...result });
    });
    return faces;
  }

  /** Embeds given face boxes (FEC triplets, pre-annotated datasets) without running the detector. */
  async embedBoxes(image: RgbImage, boxes: Box[], options: EncodeOptions = {}): Promise<Face[]> {
    const crops = boxes.map((box) => ({ image, region: cropRegion(box, image) }));
    const embedded = await this.embed(crops, options);
    return embedded.map((result, i) => ({ box: boxes[i]!, score: 1, ...result }));
  }

  /** Embeds images that are already face crops (CK+, FER2013): the whole image is the face. */
  async embedCrops(images: RgbImage[], options: EncodeOptions = {}): Promise<Face[]> {
    const crops = images.map((image) => ({
      image,
      region: { x: 0, y: 0, width: image.width, height: image.height },
    }));
    const embedded = await this.embed(crops, options);
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

function describe(m: { id: string; version: string }): string {
  return `${m.id}@${m.version}`;
}

function expectTask(model: LoadedModel, task: LoadedModel['manifest']['task']): void {
  if (model.manifest.task !== task) {
    throw new ModelError(
      'MODEL_WRONG_TASK',
      `${model.manifestPath} is a ${model.manifest.task} model, but a ${task} model is needed here`,
    );
  }
}
