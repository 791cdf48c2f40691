import { decodeImage } from '@fever/encoder';
import sharp from 'sharp';
import type { FractionBox } from '../fec/types.ts';

/**
 * A small JPEG of a face box as a data URI, for the report's gallery: the report must stand alone,
 * with no links to image files that may move. Null when the image cannot be read.
 */
export async function faceThumbnail(
  path: string,
  box: FractionBox,
  options: { size?: number; maxPixels?: number } = {},
): Promise<string | null> {
  const size = options.size ?? 96;
  try {
    const image = await decodeImage(path, options.maxPixels ? { maxPixels: options.maxPixels } : {});
    const left = Math.min(image.width - 1, Math.floor(box.left * image.width));
    const top = Math.min(image.height - 1, Math.floor(box.top * image.height));
    const width = Math.max(1, Math.min(image.width - left, Math.round((box.right - box.left) * image.width)));
    const height = Math.max(
      1,
      Math.min(image.height - top, Math.round((box.bottom - box.top) * image.height)),
    );
    const jpeg = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
      .extract({ left, top, width, height })
      .resize(size, size, { fit: 'inside' })
      .jpeg({ quality: 80 })
      .toBuffer();
    return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
  } catch {
    return null;
  }
}
