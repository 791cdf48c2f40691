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
}

export function inputSpecOf(manifest: ModelManifest): InputSpec {
  const { size, layout, channels, mean, std } = manifest.input;
  return { size, layout, channels, mean, std };
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

  // Per output column: the two source columns (as canvas x) and the lerp weight.
  const x0s = new Int32Array(outW);
  const x1s = new Int32Array(outW);
  const xLerps = new Float32Array(outW);
  for (let x = 0; x < outW; x++) {
    const src = f32(x * scaleX);
    const x0 = Math.max(0, Math.floor(src));
    x0s[x] = x0;
    x1s[x] = Math.min(x0 + 1, canvas.width - 1);
    xLerps[x] = f32(src - x0);
  }

  const rgb = new Float32Array(3);
  // Reads canvas pixel (cx, cy) channel c: inside the region it is the image, outside it is 0.
  const px = (cx: number, cy: number, c: number): number => {
    const rx = cx - canvas.offsetX;
    const ry = cy - canvas.offsetY;
    if (rx < 0 || ry < 0 || rx >= region.width || ry >= region.height) return 0;
    return data[((region.y + ry) * imgW + region.x + rx) * 3 + c]!;
  };

  for (let y = 0; y < outH; y++) {
    const srcY = f32(y * scaleY);
    const y0 = Math.max(0, Math.floor(srcY));
    const y1 = Math.min(y0 + 1, canvas.height - 1);
    const yLerp = f32(srcY - y0);
    for (let x = 0; x < outW; x++) {
      const x0 = x0s[x]!;
      const x1 = x1s[x]!;
      const xLerp = xLerps[x]!;
      for (let c = 0; c < 3; c++) {
        const tl = px(x0, y0, c);
        const tr = px(x1, y0, c);
        const bl = px(x0, y1, c);
        const br = px(x1, y1, c);
        const top = f32(tl + f32(f32(tr - tl) * xLerp));
        const bottom = f32(bl + f32(f32(br - bl) * xLerp));
        rgb[c] = f32(top + f32(f32(bottom - top) * yLerp));
      }
      const pixel = y * outW + x;
      for (let c = 0; c < channels; c++) {
        const value =
          spec.channels === 'GRAY'
            ? f32(0.299 * rgb[0]! + 0.587 * rgb[1]! + 0.114 * rgb[2]!)
            : rgb[spec.channels === 'BGR' ? 2 - c : c]!;
        const normalized = f32(f32(value - mean[c]!) / std[c]!);
        out[offset + (spec.layout === 'NCHW' ? c * plane + pixel : pixel * channels + c)] = normalized;
      }
    }
  }
}
