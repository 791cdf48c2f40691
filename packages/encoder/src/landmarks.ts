import type { FaceNetwork } from './face-network.ts';
import type { FaceCrop } from './preprocess.ts';

/**
 * face-api's 68-point landmark net on face crops. Points follow the iBUG 300-W numbering
 * (0-16 jaw, 17-26 brows, 27-35 nose, 36-41 and 42-47 the eyes as the image shows them left and
 * right, 48-67 mouth).
 */
export class LandmarkModel {
  constructor(readonly network: FaceNetwork) {}

  close(): Promise<void> {
    return this.network.close();
  }

  /** 68 (x, y) pairs per crop, in image pixels. */
  async locate(crops: readonly FaceCrop[]): Promise<Float32Array[]> {
    const name = this.network.manifest.outputs.landmarks!;
    const [side] = this.network.manifest.input.size;
    const rows = await this.network.run(crops, [name]);
    return rows.map(([raw], i) => toImagePixels(raw!, crops[i]!, side));
  }
}

/**
 * face-api's FaceLandmark68NetBase.postProcess: the net's output is relative to the padded
 * square input; remove the centred padding, scale to the crop, then shift to the crop's place.
 */
function toImagePixels(raw: Float32Array, { region }: FaceCrop, side: number): Float32Array {
  const { width, height } = region;
  const scale = side / Math.max(width, height);
  const w = width * scale;
  const h = height * scale;
  const padX = w < h ? Math.abs(w - h) / 2 : 0;
  const padY = h < w ? Math.abs(w - h) / 2 : 0;
  const out = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i += 2) {
    out[i] = region.x + ((raw[i]! * side - padX) / w) * width;
    out[i + 1] = region.y + ((raw[i + 1]! * side - padY) / h) * height;
  }
  return out;
}

/** The tilt of the line from the image-left eye's centre to the image-right eye's, in radians (y down). */
export function eyeLineAngle(points: Float32Array): number {
  const centre = (first: number) => {
    let x = 0;
    let y = 0;
    for (let k = first; k < first + 6; k++) {
      x += points[k * 2]!;
      y += points[k * 2 + 1]!;
    }
    return [x / 6, y / 6] as const;
  };
  const [lx, ly] = centre(36);
  const [rx, ry] = centre(42);
  return Math.atan2(ry - ly, rx - lx);
}
