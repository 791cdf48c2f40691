import type { Box } from './detector.ts';
import { cropRegion, l2Normalize } from './expression.ts';
import type { FaceNetwork } from './face-network.ts';
import type { LandmarkModel } from './landmarks.ts';
import type { FaceCrop, PixelRect } from './preprocess.ts';

/** face-api's FaceLandmarks.align() default: the landmarks' bounding box grown by 20% of its sides. */
const ALIGN_PADDING = 0.2;

/**
 * An identity network on face crops (face-api's FaceRecognitionNet by default): one
 * L2-normalised descriptor per face; two faces of one person are close.
 *
 * With a landmark model, each face is first re-cropped to its landmarks' bounding box (padded as
 * face-api's `withFaceLandmarks().withFaceDescriptors()` does): the descriptor then depends on
 * where the face's features are, not on how loosely the detector boxed it.
 */
export class IdentityModel {
  constructor(
    readonly network: FaceNetwork,
    readonly landmarks: LandmarkModel | null = null,
  ) {}

  close(): Promise<void> {
    return Promise.all([this.network.close(), this.landmarks?.close()]).then(() => {});
  }

  async describe(crops: readonly FaceCrop[]): Promise<Float32Array[]> {
    const input = this.landmarks ? await this.align(crops) : crops;
    const rows = await this.network.run(input, [this.network.manifest.outputs.embedding!]);
    return rows.map(([raw]) => {
      this.network.checkDims(raw!);
      return l2Normalize(raw!);
    });
  }

  private async align(crops: readonly FaceCrop[]): Promise<FaceCrop[]> {
    const points = await this.landmarks!.locate(crops);
    return crops.map((crop, i) => {
      const region = landmarkRegion(points[i]!, crop.image);
      return region ? { image: crop.image, region } : crop;
    });
  }
}

/** The padded bounding box of 68 landmarks (image pixels), clipped to the image; null if empty. */
export function landmarkRegion(
  points: Float32Array,
  image: { width: number; height: number },
): PixelRect | null {
  let minX = Number.POSITIVE_INFINITY;
  let minY = Number.POSITIVE_INFINITY;
  let maxX = Number.NEGATIVE_INFINITY;
  let maxY = Number.NEGATIVE_INFINITY;
  for (let k = 0; k < points.length; k += 2) {
    minX = Math.min(minX, points[k]!);
    maxX = Math.max(maxX, points[k]!);
    minY = Math.min(minY, points[k + 1]!);
    maxY = Math.max(maxY, points[k + 1]!);
  }
  const width = maxX - minX;
  const height = maxY - minY;
  const box: Box = {
    x: minX - (width * ALIGN_PADDING) / 2,
    y: minY - (height * ALIGN_PADDING) / 2,
    width: width * (1 + ALIGN_PADDING),
    height: height * (1 + ALIGN_PADDING),
  };
  try {
    return cropRegion(box, image);
  } catch {
    return null;
  }
}
