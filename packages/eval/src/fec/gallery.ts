import { faceThumbnail } from '../html/thumbnail.ts';
import type { ProgressCallback } from '../progress.ts';
import type { Candidate } from './plan.ts';
import type { GalleryItem } from './result.ts';
import type { TripletScore } from './score.ts';
import type { FractionBox } from './types.ts';

/** Where the face behind a face key is: its file and its box. */
export type GalleryFaces = Map<string, { path: string; box: FractionBox }>;

/**
 * The model's most confident disagreements: wrong triplets (ties left out) by falling margin,
 * then by line. Their `thumbnails` hold face keys, recorded in `faces`, until attachThumbnails
 * swaps them for ids.
 */
export function galleryOf(
  used: readonly Candidate[],
  scores: readonly TripletScore[],
  size: number,
  faces: GalleryFaces,
): GalleryItem[] {
  return used
    .map((c, i) => ({ c, s: scores[i]! }))
    .filter(({ s }) => s.credit === 0 && s.modelOdd !== null)
    .sort((x, y) => y.s.margin - x.s.margin || x.c.triplet.line - y.c.triplet.line)
    .slice(0, size)
    .map(({ c, s }) => {
      const votes: [number, number, number] = [0, 0, 0];
      for (const a of c.triplet.annotations) votes[a.answer - 1]!++;
      const keys = c.faces as string[];
      keys.forEach((key, f) => {
        faces.set(key, { path: key.slice(0, key.lastIndexOf('\n')), box: c.triplet.faces[f]!.box });
      });
      return {
        line: c.triplet.line,
        type: c.triplet.type,
        urls: c.triplet.faces.map((f) => f.url) as GalleryItem['urls'],
        thumbnails: keys as GalleryItem['thumbnails'],
        humanOdd: c.majority,
        votes,
        modelOdd: s.modelOdd,
        margin: s.margin,
        distances: s.distances,
      };
    });
}

/**
 * Makes one thumbnail per gallery face and replaces the face keys (which hold file paths) with
 * short ids into the returned record; a face whose image cannot be read gets null.
 */
export async function attachThumbnails(
  galleries: readonly GalleryItem[][],
  faces: GalleryFaces,
  maxPixels: number | undefined,
  progress: ProgressCallback,
): Promise<Record<string, string>> {
  const thumbnails: Record<string, string> = {};
  const ids = new Map<string, string | null>();
  let done = 0;
  for (const [key, face] of faces) {
    const uri = await faceThumbnail(face.path, face.box, { maxPixels });
    const id = uri ? `f${ids.size}` : null;
    if (uri && id) thumbnails[id] = uri;
    ids.set(key, id);
    progress({ phase: 'report', done: ++done, total: faces.size });
  }
  for (const item of galleries.flat()) {
    item.thumbnails = item.thumbnails.map((key) => ids.get(key!) ?? null) as GalleryItem['thumbnails'];
  }
  return thumbnails;
}
