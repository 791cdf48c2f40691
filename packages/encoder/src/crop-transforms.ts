import type { RgbImage } from './decode.ts';
import type { FaceCrop } from './preprocess.ts';

/**
 * New face crops made from a crop's pixels, for the test-time options of an expression model:
 * the horizontal mirror image, and the crop rotated about its centre (eye alignment). Each comes
 * back as an image of the crop's size whose whole area is the face.
 */

const whole = (image: RgbImage): FaceCrop => ({
  image,
  region: { x: 0, y: 0, width: image.width, height: image.height },
});

/** The crop flipped left to right. */
export function mirroredCrop({ image, region }: FaceCrop): FaceCrop {
  const { x, y, width, height } = region;
  const data = new Uint8Array(width * height * 3);
  for (let row = 0; row < height; row++) {
    const src = ((y + row) * image.width + x) * 3;
    const dst = row * width * 3;
    for (let col = 0; col < width; col++) {
      const s = src + (width - 1 - col) * 3;
      const d = dst + col * 3;
      data[d] = image.data[s]!;
      data[d + 1] = image.data[s + 1]!;
      data[d + 2] = image.data[s + 2]!;
    }
  }
  return whole({ data, width, height });
}

/**
 * The crop's frame rotated by `angle` radians (image coordinates, y down) about its centre and
 * sampled bilinearly from the whole image (black outside it): a line through the centre at
 * `angle` in the image comes out level. At angle 0 the pixels are the crop's own.
 */
export function rotatedCrop({ image, region }: FaceCrop, angle: number): FaceCrop {
  const { width, height } = region;
  const cx = region.x + (width - 1) / 2;
  const cy = region.y + (height - 1) / 2;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const data = new Uint8Array(width * height * 3);
  const src = image.data;
  const at = (px: number, py: number, c: number) =>
    px < 0 || py < 0 || px >= image.width || py >= image.height ? 0 : src[(py * image.width + px) * 3 + c]!;
  for (let v = 0; v < height; v++) {
    const dy = v - (height - 1) / 2;
    for (let u = 0; u < width; u++) {
      const dx = u - (width - 1) / 2;
      const sx = cx + cos * dx - sin * dy;
      const sy = cy + sin * dx + cos * dy;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const d = (v * width + u) * 3;
      for (let c = 0; c < 3; c++) {
        const top = at(x0, y0, c) * (1 - fx) + at(x0 + 1, y0, c) * fx;
        const bottom = at(x0, y0 + 1, c) * (1 - fx) + at(x0 + 1, y0 + 1, c) * fx;
        data[d + c] = Math.round(top * (1 - fy) + bottom * fy);
      }
    }
  }
  return whole({ data, width, height });
}
