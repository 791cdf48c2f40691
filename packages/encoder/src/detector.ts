import type { RgbImage } from './decode.ts';
import type { LoadedModel } from './manifest.ts';
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
  /** Square network input side; a multiple of 32. Larger finds smaller faces, slower. */
  inputSize: number;
  /** Minimum face score, 0..1. */
  scoreThreshold: number;
  /** Boxes overlapping a better one by more than this IoU are dropped. */
  iouThreshold: number;
}

export const DEFAULT_DETECTOR_OPTIONS: DetectorOptions = {
  inputSize: 416,
  scoreThreshold: 0.5,
  iouThreshold: 0.4,
};

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

/** The TinyFaceDetector (a TinyYolov2) on onnxruntime, decoding and NMS as face-api does. */
export class FaceDetector {
  private readonly spec: InputSpec;
  private readonly inputName: string;
  private readonly outputName: string;

  constructor(
    private readonly session: ort.InferenceSession,
    model: LoadedModel,
    readonly provider: ExecutionProvider,
    readonly options: DetectorOptions,
  ) {
    const { manifest } = model;
    if (options.inputSize % 32 !== 0 || options.inputSize < 32) {
      throw new RangeError(`detector input size must be a positive multiple of 32, got ${options.inputSize}`);
    }
    this.spec = { ...inputSpecOf(manifest), size: [options.inputSize, options.inputSize] };
    this.inputName = manifest.input.name;
    this.outputName = manifest.outputs.grid!;
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
    const result = await this.session.run({ [this.inputName]: input });
    const grid = result[this.outputName]!;
    const data = grid.data as Float32Array;
    const cells = grid.dims[2]!;
    const perImage = ANCHORS.length * BOX_ENCODING * cells * cells;
    const detections = images.map((image, i) =>
      this.decode(data.subarray(i * perImage, (i + 1) * perImage), cells, image),
    );
    input.dispose();
    grid.dispose();
    return detections;
  }

  /** extractBoxes + nonMaxSuppression from face-api's TinyYolov2Base, on an NCHW grid. */
  private decode(grid: Float32Array, cells: number, image: RgbImage): Detection[] {
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
