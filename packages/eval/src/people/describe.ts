import {
  DEFAULT_IDENTITY_MANIFEST,
  decodeImage,
  Encoder,
  type EncoderOptions,
  type Face,
  readImageFile,
} from '@fever/encoder';
import type { LabelledImage } from '../labels.ts';
import type { FaceMode } from '../retrieval/result.ts';

/** A labelled image's face: its expression embedding and identity descriptor. */
export interface DescribedFace {
  index: number;
  embedding: Float32Array;
  identity: Float32Array;
}

/**
 * Embeds the face of each image with its identity descriptor (`crop`: the whole image is the
 * face; `detect`: the largest detected face). Images that cannot be read, or in which no face is
 * found, are left out and counted.
 */
export async function describeFaces(
  items: readonly LabelledImage[],
  options: {
    faces: FaceMode;
    expressionModel?: string;
    encoder?: Omit<EncoderOptions, 'expressionModel' | 'identityModel'>;
    maxPixels?: number;
    onProgress?: (done: number) => void;
  },
): Promise<{ faces: DescribedFace[]; unreadable: number; noFace: number; identityModel: string }> {
  const encoder = await Encoder.create({
    ...options.encoder,
    ...(options.expressionModel ? { expressionModel: options.expressionModel } : {}),
    identityModel: DEFAULT_IDENTITY_MANIFEST,
  });
  try {
    const faces: DescribedFace[] = [];
    let unreadable = 0;
    let noFace = 0;
    for (const [index, item] of items.entries()) {
      let face: Face | undefined;
      try {
        const image = await decodeImage(await readImageFile(item.file), {
          name: item.path,
          ...(options.maxPixels ? { maxPixels: options.maxPixels } : {}),
        });
        if (options.faces === 'crop') [face] = await encoder.embedCrops([image]);
        else {
          const [found] = await encoder.encode([image]);
          const area = (f: Face) => f.box.width * f.box.height;
          face = found!.reduce<Face | undefined>((a, b) => (a && area(a) >= area(b) ? a : b), undefined);
        }
      } catch {
        unreadable++;
        continue;
      }
      if (!face?.identity) noFace++;
      else faces.push({ index, embedding: face.embedding, identity: face.identity });
      options.onProgress?.(index + 1);
    }
    const m = encoder.identity!.network.manifest;
    return { faces, unreadable, noFace, identityModel: `${m.id}@${m.version}` };
  } finally {
    await encoder.close();
  }
}

/** A person from a file name: `Colin_Powell_0043.jpg` → `Colin_Powell`, `Dileep_71.jpg` → `Dileep`. */
export function personFromName(path: string): string {
  const base = path.replace(/^.*[\\/]/, '').replace(/\.[^.]+$/, '');
  return base.replace(/[_-]?\d+$/, '') || base;
}
