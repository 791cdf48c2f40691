import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

/**
 * Writes `count` distinct JPEG photos made from `sources` (crops, flips and rescales of each, the
 * variant number deciding which), so a benchmark or test can index thousands of different images
 * from a handful of real ones. Deterministic: the same arguments give the same bytes.
 */
export async function makeDistinctPhotos(
  outDir: string,
  count: number,
  sources: readonly string[],
  prefix = 'p',
): Promise<string[]> {
  if (sources.length === 0) throw new Error('no source photos');
  mkdirSync(outDir, { recursive: true });
  const metas = await Promise.all(sources.map((s) => sharp(s).metadata()));
  const files: string[] = [];
  const concurrency = 4;
  let next = 0;
  const work = async () => {
    while (next < count) {
      const i = next++;
      const s = i % sources.length;
      const variant = Math.floor(i / sources.length);
      const { width = 0, height = 0 } = metas[s]!;
      // Keep 70–100% of each side (mostly the middle, where faces are), at an offset per variant.
      const keep = 0.7 + 0.3 * (((variant * 37) % 11) / 10);
      const w = Math.max(16, Math.floor(width * keep));
      const h = Math.max(16, Math.floor(height * keep));
      const left = Math.floor(((width - w) * ((variant * 53) % 7)) / 6);
      const top = Math.floor(((height - h) * ((variant * 29) % 5)) / 4);
      const target = Math.min(w, 360 + ((variant * 97) % 440));
      let img = sharp(sources[s]!).extract({ left, top, width: w, height: h });
      if (variant % 2 === 1) img = img.flop();
      const file = join(outDir, `${prefix}${String(i).padStart(6, '0')}.jpg`);
      await img
        .resize({ width: target })
        .jpeg({ quality: 80 + (variant % 15) })
        .toFile(file);
      files[i] = file;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, work));
  return files;
}
