import type { RgbImage } from './decode.ts';
import type { ModelManifest } from './manifest.ts';

const f32 = Math.fround;

/** A pixel rectangle inside an image, integer coordinates. */
export interface PixelRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A face: the region of an image it occupies. */
export interface FaceCrop {
  image: RgbImage;
  region: PixelRect;
}

/**
 * Where the region sits inside the square (or stretched) canvas that gets resized, in canvas
 * pixels. Everything outside the region reads as 0, which is what face-api's zero padding does.
 */
interface Canvas {
  width: number;
  height: number;
  offsetX: number;
  offsetY: number;
}

/** Pad bottom/right to a square: what face-api's detectors do with a whole image. */
export function bottomRightSquare(region: PixelRect): Canvas {
  const side = Math.max(region.width, region.height);
  return { width: side, height: side, offsetX: 0, offsetY: 0 };
}

/**
 * Pad to a square with the region centred: face-api's padToSquare(isCenterImage=true). It appends
 * round(diff / 2) and prepends the rest, so an odd difference puts the extra pixel at the end.
 */
export function centredSquare(region: PixelRect): Canvas {
  const side = Math.max(region.width, region.height);
  const diff = Math.abs(region.width - region.height);
  const prepend = diff - Math.round(diff * 0.5);
  return region.width < region.height
    ? { width: side, height: side, offsetX: prepend, offsetY: 0 }
    : { width: side, height: side, offsetX: 0, offsetY: prepend };
}

export function stretched(region: PixelRect): Canvas {
  return { width: region.width, height: region.height, offsetX: 0, offsetY: 0 };
}

export interface InputSpec {
  size: [number, number];
  layout: 'NCHW' | 'NHWC';
  channels: 'RGB' | 'BGR' | 'GRAY';
  mean: number[];
  std: number[];
  /** R, G, B weights of the grey value (GRAY only). */
  grayWeights?: [number, number, number];
}

/** ITU-R BT.601 luma, the default grey. */
const BT601: [number, number, number] = [0.299, 0.587, 0.114];

export function inputSpecOf(manifest: ModelManifest): InputSpec {
  const { size, layout, channels, mean, std, grayWeights } = manifest.input;
  return { size, layout, channels, mean, std, ...(grayWeights ? { grayWeights } : {}) };
}

export function channelCount(spec: InputSpec): number {
  return spec.channels === 'GRAY' ? 1 : 3;
}

export function inputLength(spec: InputSpec): number {
  return spec.size[0] * spec.size[1] * channelCount(spec);
}

/**
 * Resizes `region` of `image`, placed on `canvas`, to the model input and normalises it into
 * `out` at `offset`.
 *
 * The resize is tf.image.resizeBilinear with alignCorners=false and halfPixelCenters=false,
 * reproduced in float32 step by step (tfjs-backend-wasm's kernel): source = dst * (in / out),
 * no half-pixel shift, lerp along x then y. An image library's resize (half-pixel centres,
 * antialiasing) shifts the expression probabilities visibly, so this is not left to sharp.
 */
export function resizeNormalizeInto(
  image: RgbImage,
  region: PixelRect,
  canvas: Canvas,
  spec: InputSpec,
  out: Float32Array,
  offset: number,
): void {
  const [outH, outW] = spec.size;
  const channels = channelCount(spec);
  const plane = outH * outW;
  const scaleY = f32(canvas.height / outH);
  const scaleX = f32(canvas.width / outW);
  const mean = Array.from({ length: channels }, (_, c) => f32(spec.mean[spec.mean.length === 1 ? 0 : c]!));
  const std = Array.from({ length: channels }, (_, c) => spec.std[spec.std.length === 1 ? 0 : c]!);
  const { data, width: imgW } = image;

  // Source offsets into `data` for each output column / row, -1 where the canvas is padding.
  // Precomputed so the inner loop is plain indexing (this loop dominated the expression path).
  const col0 = new Int32Array(outW);
  const col1 = new Int32Array(outW);
  const xLerps = new Float32Array(outW);
  const colOffset = (cx: number) => {
    const rx = cx - canvas.offsetX;
    return rx < 0 || rx >= region.width ? -1 : (region.x + rx) * 3;
  };
  for (let x = 0; x < outW; x++) {
    const src = f32(x * scaleX);
    const x0 = Math.max(0, Math.floor(src));
    col0[x] = colOffset(x0);
    col1[x] = colOffset(Math.min(x0 + 1, canvas.width - 1));
    xLerps[x] = f32(src - x0);
  }
  const rowOffset = (cy: number) => {
    const ry = cy - canvas.offsetY;
    return ry < 0 || ry >= region.height ? -1 : (region.y + ry) * imgW * 3;
  };

  const gray = spec.channels === 'GRAY';
  const [wr, wg, wb] = spec.grayWeights ?? BT601;
  const source = spec.channels === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  const channelStride = spec.layout === 'NCHW' ? plane : 1;
  const pixelStride = spec.layout === 'NCHW' ? 1 : channels;
  const rgb = new Float32Array(3);
  for (let y = 0; y < outH; y++) {
    const srcY = f32(y * scaleY);
    const y0 = Math.max(0, Math.floor(srcY));
    const row0 = rowOffset(y0);
    const row1 = rowOffset(Math.min(y0 + 1, canvas.height - 1));
    const yLerp = f32(srcY - y0);
    for (let x = 0; x < outW; x++) {
      const c0 = col0[x]!;
      const c1 = col1[x]!;
      const xLerp = xLerps[x]!;
      const tlAt = row0 < 0 || c0 < 0 ? -1 : row0 + c0;
      const trAt = row0 < 0 || c1 < 0 ? -1 : row0 + c1;
      const blAt = row1 < 0 || c0 < 0 ? -1 : row1 + c0;
      const brAt = row1 < 0 || c1 < 0 ? -1 : row1 + c1;
      for (let c = 0; c < 3; c++) {
        const tl = tlAt < 0 ? 0 : data[tlAt + c]!;
        const tr = trAt < 0 ? 0 : data[trAt + c]!;
        const bl = blAt < 0 ? 0 : data[blAt + c]!;
        const br = brAt < 0 ? 0 : data[brAt + c]!;
        const top = f32(tl + f32(f32(tr - tl) * xLerp));
        const bottom = f32(bl + f32(f32(br - bl) * xLerp));
        rgb[c] = f32(top + f32(f32(bottom - top) * yLerp));
      }
      const base = offset + (y * outW + x) * pixelStride;
      if (gray) {
        const value = f32(wr * rgb[0]! + wg * rgb[1]! + wb * rgb[2]!);
        out[base] = f32(f32(value - mean[0]!) / std[0]!);
      } else {
        for (let c = 0; c < 3; c++) {
          out[base + c * channelStride] = f32(f32(rgb[source[c]!]! - mean[c]!) / std[c]!);
        }
      }
    }
  }
}

/**
 * The network input for face crops, cropped, resized and normalised as the manifest says: what
 * `ExpressionModel.embed` feeds the model, for callers that run a model of their own on it
 * (the trainer's truncated trunk).
 */
export function expressionInput(
  crops: readonly FaceCrop[],
  manifest: ModelManifest,
): { data: Float32Array; dims: number[] } {
  const spec = inputSpecOf(manifest);
  const per = inputLength(spec);
  const data = new Float32Array(per * crops.length);
  crops.forEach(({ image, region }, i) => {
    const canvas = manifest.input.crop === 'square-centre' ? centredSquare(region) : stretched(region);
    resizeNormalizeInto(image, region, canvas, spec, data, i * per);
  });
  const [h, w] = spec.size;
  const c = channelCount(spec);
  const dims = spec.layout === 'NCHW' ? [crops.length, c, h, w] : [crops.length, h, w, c];
  return { data, dims };
}
