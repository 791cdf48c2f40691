import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { sha256Bytes } from '@fever/encoder';
import { samplePhotos, sharedData } from '@fever/encoder/testing';
import { firstImages, makeDistinctPhotos } from '@fever/test/harness';

/**
 * `needed` photos with distinct contents, in the order the runs take them: the six face-api group
 * photos, then muxspace portraits (one small face each, which the tiny detector often misses)
 * alternating with distinct crops of the group photos (several faces each), so that every run
 * adds faces to search. Also returns the examples the searchers upload.
 */
export async function photoPool(
  dir: string,
  needed: number,
): Promise<{ files: string[]; uploads: string[]; sources: string }> {
  mkdirSync(dir, { recursive: true });
  const seen = new Set<string>();
  let n = 0;
  // Copied next to the run folders, which hard-link them (one filesystem).
  const keep = (files: readonly string[], limit: number, copy: boolean): string[] => {
    const out: string[] = [];
    for (const f of files) {
      if (out.length >= limit) break;
      const sha = sha256Bytes(readFileSync(f));
      if (seen.has(sha)) continue;
      seen.add(sha);
      let to = f;
      if (copy) {
        to = join(dir, `${String(n++).padStart(5, '0')}-${basename(f)}`);
        copyFileSync(f, to);
      }
      out.push(to);
    }
    return out;
  };
  const groups = keep(samplePhotos(), Number.POSITIVE_INFINITY, true);
  const mux = sharedData('muxspace');
  const portraits = keep(mux ? firstImages(mux, 100_000) : [], Math.ceil((needed - groups.length) / 2), true);
  const wanted = Math.max(0, needed - groups.length - portraits.length);
  const crops = keep(
    await makeDistinctPhotos(join(dir, 'crops'), wanted, samplePhotos(), 'crop'),
    wanted,
    false,
  );
  const files = [...groups];
  for (let i = 0; i < Math.max(portraits.length, crops.length); i++) {
    if (i < portraits.length) files.push(portraits[i]!);
    if (i < crops.length) files.push(crops[i]!);
  }
  const sources =
    `${groups.length} face-api sample photos, ${portraits.length} muxspace photos` +
    `${mux ? '' : ' (../shared/data/muxspace is not here)'}, ${crops.length} distinct crops of the sample photos`;
  const uploads = [...groups.slice(0, 3), ...(portraits.length >= 5 ? portraits : crops).slice(0, 5)];
  return { files, uploads, sources };
}
