import type { RgbImage } from './decode.ts';
import type { LoadedModel, ModelManifest } from './manifest.ts';
import {
  bottomRightSquare,
  type InputSpec,
  inputLength,
  inputSpecOf,
  resizeNormalizeInto,
} from './preprocess.ts';
import { type ExecutionProvider, ort } from './session.ts';

/** A box in image pixels (x, y = top-left corner). */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Detection {
  box: Box;
  score: number;
}

export interface DetectorOptions {
  /**
   * Square network input side. Tiny YOLO: a multiple of 32, larger finds smaller faces, slower
   * (default: the manifest's size). SSD: 512 only (its anchors are fixed).
   */
  inputSize: number;
  /** Minimum face score, 0..1. */
  scoreThreshold: number;
  /** Boxes overlapping a better one by more than this IoU are dropped. */
  iouThreshold: number;
  /** At most this many faces per image (SSD; face-api's default 100). */
  maxResults: number;
}

/** face-api's defaults for each decoder (TinyFaceDetectorOptions, SsdMobilenetv1Options + locateFaces). */
export function detectorDefaults(manifest: ModelManifest): DetectorOptions {
  return manifest.decoder === 'ssd'
    ? { inputSize: manifest.input.size[0], scoreThreshold: 0.5, iouThreshold: 0.5, maxResults: 100 }
    : { inputSize: manifest.input.size[0], scoreThreshold: 0.5, iouThreshold: 0.4, maxResults: Infinity };
}

// face-api's TinyFaceDetector anchors (in grid cells) and grid layout: 5 anchors × (tx, ty, tw, th, score).
const ANCHORS = [
  [1.603231, 2.094468],
  [6.041143, 7.080126],
  [2.882459, 3.518061],
  [4.266906, 5.178857],
  [9.041765, 10.66308],
] as const;
const BOX_ENCODING = 5;

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * A face detector on onnxruntime: face-api's TinyFaceDetector (a TinyYolov2) or its
 * SsdMobilenetv1, with decoding and NMS as face-api does each.
 */
export class FaceDetector {
  private readonly spec: InputSpec;
  private readonly manifest: ModelManifest;
  readonly options: DetectorOptions;

  constructor(
    private readonly session: ort.InferenceSession,
    model: LoadedModel,
    readonly provider: ExecutionProvider,
    options: Partial<DetectorOptions> = {},
  ) {
    this.manifest = model.manifest;
    this.options = { ...detectorDefaults(this.manifest), ...options };
    const { inputSize } = this.options;
    if (this.manifest.decoder === 'ssd') {
      if (inputSize !== this.manifest.input.size[0]) {
        throw new RangeError(
          `the SSD detector runs at ${this.manifest.input.size[0]} px only, not ${inputSize}`,
        );
      }
    } else if (inputSize % 32 !== 0 || inputSize < 32) {
      throw new RangeError(`detector input size must be a positive multiple of 32, got ${inputSize}`);
    }
    this.spec = { ...inputSpecOf(this.manifest), size: [inputSize, inputSize] };
  }

  /** The detector model, id@version. */
  get name(): string {
    return `${this.manifest.id}@${this.manifest.version}`;
  }

  async close(): Promise<void> {
    await this.session.release();
  }

  /** Detects faces in each image; images run through the network together as one batch. */
  async detect(images: RgbImage[]): Promise<Detection[][]> {
    if (images.length === 0) return [];
    const size = this.options.inputSize;
    const per = inputLength(this.spec);
    const batch = new Float32Array(per * images.length);
    images.forEach((image, i) => {
      const region = { x: 0, y: 0, width: image.width, height: image.height };
      resizeNormalizeInto(image, region, bottomRightSquare(region), this.spec, batch, i * per);
    });
    const input = new ort.Tensor('float32', batch, [images.length, 3, size, size]);
    const { outputs } = this.manifest;
    const result = await this.session.run({ [this.manifest.input.name]: input });
    let detections: Detection[][];
    if (this.manifest.decoder === 'ssd') {
      const boxes = result[outputs.boxes!]!.data as Float32Array;
      const scores = result[outputs.scores!]!.data as Float32Array;
      const anchors = scores.length / images.length;
      detections = images.map((image, i) =>
        this.decodeSsd(
          boxes.subarray(i * anchors * 4, (i + 1) * anchors * 4),
          scores.subarray(i * anchors, (i + 1) * anchors),
          image,
        ),
      );
    } else {
      const grid = result[outputs.grid!]!;
      const data = grid.data as Float32Array;
      const cells = grid.dims[2]!;
      const perImage = ANCHORS.length * BOX_ENCODING * cells * cells;
      detections = images.map((image, i) =>
        this.decodeTiny(data.subarray(i * perImage, (i + 1) * perImage), cells, image),
      );
    }
    input.dispose();
    for (const t of Object.values(result)) t.dispose();
    return detections;
  }

  /**
   * face-api's SsdMobilenetv1.locateFaces after the network: its NMS on the decoded anchor boxes,
   * then each box clipped to the padded square, corrected for the padding, scaled to the image.
   */
  private decodeSsd(boxes: Float32Array, scores: Float32Array, image: RgbImage): Detection[] {
    const { inputSize, scoreThreshold, iouThreshold, maxResults } = this.options;
    const scale = inputSize / Math.max(image.width, image.height);
    const padX = inputSize / Math.round(image.width * scale);
    const padY = inputSize / Math.round(image.height * scale);
    const detections: Detection[] = [];
    for (const i of ssdNonMaxSuppression(boxes, scores, maxResults, iouThreshold, scoreThreshold)) {
      const top = Math.max(0, boxes[i * 4]!) * padY;
      const left = Math.max(0, boxes[i * 4 + 1]!) * padX;
      const bottom = Math.min(1, boxes[i * 4 + 2]!) * padY;
      const right = Math.min(1, boxes[i * 4 + 3]!) * padX;
      if (!(right > left && bottom > top)) continue; // an anchor wholly past the image's edge
      detections.push({
        box: scaleBox(
          { x: left, y: top, width: right - left, height: bottom - top },
          image.width,
          image.height,
        ),
        score: scores[i]!,
      });
    }
    return detections;
  }

  /** extractBoxes + nonMaxSuppression from face-api's TinyYolov2Base, on an NCHW grid. */
  private decodeTiny(grid: Float32Array, cells: number, image: RgbImage): Detection[] {
    const { inputSize, scoreThreshold, iouThreshold } = this.options;
    // The image filled only part of the padded square: scale relative boxes back to the image.
    const scale = inputSize / Math.max(image.width, image.height);
    const correctX = inputSize / Math.round(image.width * scale);
    const correctY = inputSize / Math.round(image.height * scale);
    const at = (anchor: number, k: number, row: number, col: number) =>
      grid[((anchor * BOX_ENCODING + k) * cells + row) * cells + col]!;

    const candidates: { rel: Box; score: number }[] = [];
    for (let row = 0; row < cells; row++) {
      for (let col = 0; col < cells; col++) {
        for (let anchor = 0; anchor < ANCHORS.length; anchor++) {
          const score = sigmoid(at(anchor, 4, row, col));
          if (score <= scoreThreshold) continue;
          const [aw, ah] = ANCHORS[anchor]!;
          const cx = ((col + sigmoid(at(anchor, 0, row, col))) / cells) * correctX;
          const cy = ((row + sigmoid(at(anchor, 1, row, col))) / cells) * correctY;
          const w = ((Math.exp(at(anchor, 2, row, col)) * aw) / cells) * correctX;
          const h = ((Math.exp(at(anchor, 3, row, col)) * ah) / cells) * correctY;
          candidates.push({ rel: { x: cx - w / 2, y: cy - h / 2, width: w, height: h }, score });
        }
      }
    }
    const keep = nonMaxSuppression(
      candidates.map((c) => scaleBox(c.rel, inputSize, inputSize)),
      candidates.map((c) => c.score),
      iouThreshold,
    );
    return keep.map((i) => ({
      box: scaleBox(candidates[i]!.rel, image.width, image.height),
      score: candidates[i]!.score,
    }));
  }
}

function scaleBox(b: Box, sx: number, sy: number): Box {
  return { x: b.x * sx, y: b.y * sy, width: b.width * sx, height: b.height * sy };
}

export function iou(a: Box, b: Box): number {
  const w = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const h = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  const inter = w * h;
  return inter / (a.width * a.height + b.width * b.height - inter);
}

/**
 * face-api's SSD NMS (ssdMobilenetv1/nonMaxSuppression.ts): candidates above `scoreThreshold`,
 * best first; each is kept unless it overlaps a kept box by more than `iouThreshold`, checked
 * from the last kept box back. Boxes are [ymin, xmin, ymax, xmax] rows. Returns kept indices.
 */
export function ssdNonMaxSuppression(
  boxes: Float32Array,
  scores: Float32Array,
  maxResults: number,
  iouThreshold: number,
  scoreThreshold: number,
): number[] {
  const outputSize = Math.min(maxResults, scores.length);
  const candidates: { score: number; index: number }[] = [];
  scores.forEach((score, index) => {
    if (score > scoreThreshold) candidates.push({ score, index });
  });
  candidates.sort((a, b) => b.score - a.score);
  const area = (i: number) =>
    (Math.max(boxes[i * 4]!, boxes[i * 4 + 2]!) - Math.min(boxes[i * 4]!, boxes[i * 4 + 2]!)) *
    (Math.max(boxes[i * 4 + 1]!, boxes[i * 4 + 3]!) - Math.min(boxes[i * 4 + 1]!, boxes[i * 4 + 3]!));
  const overlap = (i: number, j: number) => {
    const [ai, aj] = [area(i), area(j)];
    if (ai <= 0 || aj <= 0) return 0;
    const lo = (k: number, a: number, b: number) => Math.min(boxes[k * 4 + a]!, boxes[k * 4 + b]!);
    const hi = (k: number, a: number, b: number) => Math.max(boxes[k * 4 + a]!, boxes[k * 4 + b]!);
    const h = Math.max(Math.min(hi(i, 0, 2), hi(j, 0, 2)) - Math.max(lo(i, 0, 2), lo(j, 0, 2)), 0);
    const w = Math.max(Math.min(hi(i, 1, 3), hi(j, 1, 3)) - Math.max(lo(i, 1, 3), lo(j, 1, 3)), 0);
    return (h * w) / (ai + aj - h * w);
  };
  const selected: number[] = [];
  for (const c of candidates) {
    if (selected.length >= outputSize) break;
    let suppressed = false;
    for (let j = selected.length - 1; j >= 0; --j) {
      const v = overlap(c.index, selected[j]!);
      if (v === 0) continue;
      if (v > iouThreshold) {
        // face-api multiplies the score by 0 and stops once it is at or below the threshold.
        suppressed = true;
        break;
      }
    }
    if (!suppressed) selected.push(c.index);
  }
  return selected;
}

/**
 * Greedy NMS, highest score first; returns kept indices in that order. Ties resolve as in
 * face-api (a stable ascending sort popped from the end), so the same faces come out in the
 * same order as the reference.
 */
export function nonMaxSuppression(boxes: Box[], scores: number[], iouThreshold: number): number[] {
  let order = scores
    .map((score, index) => ({ score, index }))
    .sort((a, b) => a.score - b.score)
    .map((c) => c.index);
  const keep: number[] = [];
  while (order.length > 0) {
    const best = order.pop()!;
    keep.push(best);
    order = order.filter((i) => iou(boxes[best]!, boxes[i]!) <= iouThreshold);
  }
  return keep;
}
