import { l2Normalize } from './expression.ts';
import type { FaceNetwork } from './face-network.ts';
import type { FaceCrop } from './preprocess.ts';

/**
 * An identity network on face crops (face-api's FaceRecognitionNet by default): one
 * L2-normalised descriptor per face; two faces of one person are close.
 */
export class IdentityModel {
  constructor(readonly network: FaceNetwork) {}

  close(): Promise<void> {
    return this.network.close();
  }

  async describe(crops: readonly FaceCrop[]): Promise<Float32Array[]> {
    const rows = await this.network.run(crops, [this.network.manifest.outputs.embedding!]);
    return rows.map(([raw]) => {
      this.network.checkDims(raw!);
      return l2Normalize(raw!);
    });
  }
}
