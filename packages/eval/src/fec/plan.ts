import type { ProgressCallback } from '../progress.ts';
import type { FailureLog } from './failures.ts';
import type { ImageResolver, MissingReason } from './resolve-images.ts';
import type { Answer, FecTriplet, FractionBox } from './types.ts';

/** A triplet with a majority, its faces as keys (`path\nbox`) or the reason a face has no image. */
export interface Candidate {
  triplet: FecTriplet;
  majority: Answer;
  faces: (string | { reason: MissingReason })[];
}

export interface FacePlan {
  candidates: Candidate[];
  /** Distinct image URLs looked up, and how many were found. */
  urls: number;
  resolved: number;
  /** The distinct boxes wanted from each image file. */
  boxesByPath: Map<string, Map<string, FractionBox>>;
  /** A URL that names each file, for messages. */
  urlOfPath: Map<string, string>;
}

/** A box as text, for keys: JS number formatting is canonical, so equal boxes give equal text. */
export function boxText(box: FractionBox): string {
  return `${box.left},${box.right},${box.top},${box.bottom}`;
}

export function faceKey(path: string, box: FractionBox): string {
  return `${path}\n${boxText(box)}`;
}

/**
 * Resolves the image of every face of the triplets that have a majority, and lists the distinct
 * faces to embed, grouped by image file so that each image is decoded once.
 */
export async function planFaces(
  triplets: readonly { triplet: FecTriplet; majority: Answer }[],
  resolver: ImageResolver,
  failures: FailureLog,
  progress: ProgressCallback,
): Promise<FacePlan> {
  const urls = [...new Set(triplets.flatMap(({ triplet }) => triplet.faces.map((f) => f.url)))];
  const resolved = new Map<string, { path: string } | { reason: MissingReason }>();
  let found = 0;
  for (const [i, url] of urls.entries()) {
    const r = await resolver.resolve(url);
    resolved.set(url, r);
    if ('reason' in r) failures.note(url, r.reason, r.detail);
    else found++;
    if ((i + 1) % 1000 === 0 || i + 1 === urls.length)
      progress({ phase: 'resolve', done: i + 1, total: urls.length });
  }
  const boxesByPath = new Map<string, Map<string, FractionBox>>();
  const urlOfPath = new Map<string, string>();
  const candidates = triplets.map(({ triplet, majority }) => ({
    triplet,
    majority,
    faces: triplet.faces.map((face) => {
      const r = resolved.get(face.url)!;
      if ('reason' in r) return { reason: r.reason };
      const boxes = boxesByPath.get(r.path) ?? new Map<string, FractionBox>();
      boxesByPath.set(r.path, boxes);
      boxes.set(boxText(face.box), face.box);
      if (!urlOfPath.has(r.path)) urlOfPath.set(r.path, face.url);
      return faceKey(r.path, face.box);
    }),
  }));
  return { candidates, urls: urls.length, resolved: found, boxesByPath, urlOfPath };
}
