import {
  type Box,
  decodeImage,
  type Encoder,
  type Face,
  FaceBoxError,
  type RgbImage,
  sha256File,
} from '@fever/encoder';
import { isFeverError } from '@fever/errors';
import type { FractionBox } from '../fec/types.ts';
import type { EmbeddingCache, EmbeddingOutput } from './cache.ts';
import { type ModelHandle, vectorOf } from './model.ts';
import { mapPool } from './pool.ts';

/** Why a face has no vector. `unreadable`: the image cannot be hashed or decoded; `empty-box`: no pixel of the box is inside it. */
export interface FaceFailure {
  reason: 'unreadable' | 'empty-box';
  code: string;
  message: string;
}

export type FaceVectors = Partial<Record<EmbeddingOutput, Float32Array>>;

/** One image and the face boxes wanted from it. */
export interface ImageFaces {
  path: string;
  sha256: string;
  boxes: FractionBox[];
}

export type ImageResult = { failure: FaceFailure } | { faces: (FaceVectors | FaceFailure)[] };

// Images in flight: decoding (sharp, own threads) overlaps with inference (one session, serialised).
const CONCURRENCY = 4;
// Cache appends per this many images, so a crash loses little and writes stay large.
const FLUSH_EVERY = 256;

/** A box in fractions of the image → pixels, the form the encoder's given-box path takes. */
export function pixelBox(box: FractionBox, image: { width: number; height: number }): Box {
  return {
    x: box.left * image.width,
    y: box.top * image.height,
    width: (box.right - box.left) * image.width,
    height: (box.bottom - box.top) * image.height,
  };
}

/** sha256 of each file; a file that cannot be read gets a failure instead. */
export async function hashImages(
  paths: readonly string[],
  onProgress?: (done: number) => void,
): Promise<Map<string, string | FaceFailure>> {
  let done = 0;
  const hashes = await mapPool(paths, 8, async (path) => {
    try {
      return await sha256File(path);
    } catch (err) {
      return {
        reason: 'unreadable',
        code: 'IMAGE_UNREADABLE',
        message: `${path}: ${errorText(err)}`,
      } as const;
    } finally {
      onProgress?.(++done);
    }
  });
  return new Map(paths.map((p, i) => [p, hashes[i]!]));
}

/**
 * Vectors of every requested face for one model, from the cache where it has them, else by
 * decoding the image and running the encoder's given-box path on the boxes still missing.
 */
export async function embedImageFaces(args: {
  images: readonly ImageFaces[];
  model: ModelHandle;
  caches: ReadonlyMap<EmbeddingOutput, EmbeddingCache>;
  maxPixels?: number;
  onProgress?: (done: number) => void;
}): Promise<ImageResult[]> {
  const { images, model, caches } = args;
  const outputs = [...caches.keys()];
  let done = 0;
  const flush = () => Promise.all([...caches.values()].map((c) => c.flush()));
  try {
    return await mapPool(images, CONCURRENCY, async (item) => {
      const faces: (FaceVectors | FaceFailure | null)[] = item.boxes.map((box) => {
        const vectors: FaceVectors = {};
        let complete = true;
        // Every output is looked up, so that each cache counts its own hits and misses.
        for (const output of outputs) {
          const v = caches.get(output)!.get(item.sha256, box);
          if (v) vectors[output] = v;
          else complete = false;
        }
        return complete ? vectors : null;
      });
      const missing = faces.flatMap((f, i) => (f === null ? [i] : []));
      let result: ImageResult = { faces: faces as (FaceVectors | FaceFailure)[] };
      if (missing.length > 0) {
        let image: RgbImage | undefined;
        try {
          image = await decodeImage(item.path, args.maxPixels ? { maxPixels: args.maxPixels } : {});
        } catch (err) {
          if (!isFeverError(err)) throw err;
          result = { failure: { reason: 'unreadable', code: err.code, message: err.message } };
        }
        if (image) {
          const encoder = await model.encoder();
          const embedded = await embedBoxes(
            encoder,
            image,
            missing.map((i) => item.boxes[i]!),
          );
          missing.forEach((boxIndex, k) => {
            const face = embedded[k]!;
            if ('reason' in face) {
              faces[boxIndex] = face;
              return;
            }
            const vectors: FaceVectors = {};
            for (const output of outputs) {
              const v = vectorOf(face, output);
              caches.get(output)!.set(item.sha256, item.boxes[boxIndex]!, v);
              vectors[output] = v;
            }
            faces[boxIndex] = vectors;
          });
        }
      }
      if (++done % FLUSH_EVERY === 0) await flush();
      args.onProgress?.(done);
      return result;
    });
  } finally {
    await flush();
  }
}

async function embedBoxes(
  encoder: Encoder,
  image: RgbImage,
  boxes: FractionBox[],
): Promise<(Face | FaceFailure)[]> {
  const pixels = boxes.map((b) => pixelBox(b, image));
  try {
    return await encoder.embedBoxes(image, pixels);
  } catch (err) {
    if (!(err instanceof FaceBoxError)) throw err;
  }
  // One box has no pixels in the image (tiny image, sliver box): find it, keep the others.
  const results: (Face | FaceFailure)[] = [];
  for (const box of pixels) {
    try {
      results.push((await encoder.embedBoxes(image, [box]))[0]!);
    } catch (err) {
      if (!(err instanceof FaceBoxError)) throw err;
      results.push({ reason: 'empty-box', code: err.code, message: err.message });
    }
  }
  return results;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
