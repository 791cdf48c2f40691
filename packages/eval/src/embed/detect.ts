import { decodeImage, type Face, type RgbImage } from '@fever/encoder';
import { isFeverError } from '@fever/errors';
import type { LabelledImage } from '../labels.ts';
import type { ModelHandle } from './model.ts';
import { mapPool } from './pool.ts';

// Images per detector call: bounds memory on large photos.
const CHUNK = 8;

/** detect mode: the largest face of each image (by box area), null when none, or why it could not be read. */
export async function detectLargestFaces(
  items: readonly LabelledImage[],
  handle: ModelHandle,
  maxPixels: number | undefined,
  onProgress: (done: number) => void,
): Promise<(Face | { code: string; message: string } | null)[]> {
  const encoder = await handle.encoder();
  const out: (Face | { code: string; message: string } | null)[] = [];
  for (let start = 0; start < items.length; start += CHUNK) {
    const chunk = items.slice(start, start + CHUNK);
    const decoded = await mapPool(chunk, CHUNK, async (item) => {
      try {
        return await decodeImage(item.file, maxPixels ? { maxPixels } : {});
      } catch (err) {
        if (!isFeverError(err)) throw err;
        return { code: err.code, message: err.message };
      }
    });
    const images = decoded.filter((d): d is RgbImage => 'data' in d);
    const faces = await encoder.encode(images);
    let k = 0;
    for (const d of decoded) {
      if (!('data' in d)) {
        out.push(d);
        continue;
      }
      const found = faces[k++]!;
      let best: Face | null = null;
      for (const f of found)
        if (!best || f.box.width * f.box.height > best.box.width * best.box.height) best = f;
      out.push(best);
    }
    onProgress(Math.min(items.length, start + CHUNK));
  }
  return out;
}
