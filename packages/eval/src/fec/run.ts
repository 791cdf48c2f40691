import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type EncoderOptions, sha256File } from '@fever/encoder';
import { NotFoundError } from '@fever/errors';
import { EmbeddingCache, type EmbeddingOutput } from '../embed/cache.ts';
import { type DistanceName, distanceFunction } from '../embed/distance.ts';
import { embedImageFaces, type FaceFailure, hashImages, type ImageFaces } from '../embed/faces.ts';
import { ModelHandle } from '../embed/model.ts';
import type { ProgressCallback } from '../progress.ts';
import { FailureLog } from './failures.ts';
import { attachThumbnails, type GalleryFaces, galleryOf } from './gallery.ts';
import { humanAgreement, majorityAnswer, unanimous } from './majority.ts';
import { marginHistogram, subsetStats } from './metrics.ts';
import { parseFecCsv } from './parse.ts';
import { type Candidate, faceKey, planFaces } from './plan.ts';
import { ImageResolver } from './resolve-images.ts';
import {
  type FecEvalResult,
  type FecReport,
  type FecVariantMetrics,
  MAX_LISTED,
  type SkipReason,
} from './result.ts';
import { scoreTriplet } from './score.ts';
import { type Answer, type FecTriplet, TRIPLET_TYPES } from './types.ts';

export interface FecEvalOptions {
  /** The FEC-format CSV. */
  triplets: string;
  images?: string;
  map?: string;
  /** Real paths of the folders images may be read from (see ImageSource.within); undefined: any. */
  within?: readonly string[];
  /** Expression model manifests, compared side by side; the default model when empty. */
  models?: (string | undefined)[];
  /** Which model outputs serve as the embedding; `embedding` by default. */
  outputs?: EmbeddingOutput[];
  distance?: DistanceName;
  bootstrapSamples?: number;
  seed?: number;
  /** Disagreements shown per model output in the report's gallery. */
  gallerySize?: number;
  /** Folder of the embedding cache; null or absent: no cache. */
  cacheDir?: string | null;
  maxPixels?: number;
  encoder?: Omit<EncoderOptions, 'expressionModel'>;
  onProgress?: ProgressCallback;
}

interface Variant {
  name: string;
  handle: ModelHandle;
  output: EmbeddingOutput;
  cache: EmbeddingCache;
  /** Face key → vector. */
  vectors: Map<string, Float32Array>;
}

/**
 * Runs an FEC triplet-agreement evaluation: parse, majority, resolve images, embed (through the
 * cache), score every model output on the same triplets, and build the report. See FecEvalResult.
 */
export async function runFecEval(options: FecEvalOptions): Promise<FecEvalResult> {
  const started = performance.now();
  const lap = lapTimer();
  const progress = options.onProgress ?? (() => {});
  const outputs = options.outputs?.length
    ? [...new Set(options.outputs)]
    : (['embedding'] as EmbeddingOutput[]);
  const distanceName = options.distance ?? 'cosine';
  const distance = distanceFunction(distanceName);
  const bootstrap = { samples: options.bootstrapSamples ?? 1000, seed: options.seed ?? 1 };
  const gallerySize = options.gallerySize ?? 12;

  // Models first: a bad manifest or a missing output should fail before minutes of work.
  const modelPaths = options.models?.length ? options.models : [undefined];
  const handles = await Promise.all(modelPaths.map((m) => ModelHandle.load(m, options.encoder ?? {})));
  for (const h of handles) h.checkOutputs(outputs);

  try {
    const file = resolve(options.triplets);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new NotFoundError(
        'TRIPLETS_NOT_FOUND',
        `triplets CSV ${file} cannot be read: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    const parsed = parseFecCsv(text);
    const fileSha = await sha256File(file);
    progress({ phase: 'parse', done: parsed.rows, total: parsed.rows });
    const timings = { parseMs: lap() } as FecEvalResult['timings'];

    const skipped: Partial<Record<SkipReason, number>> = {};
    const skip = (reason: SkipReason) => {
      skipped[reason] = (skipped[reason] ?? 0) + 1;
    };
    const withMajority: { triplet: FecTriplet; majority: Answer }[] = [];
    for (const triplet of parsed.triplets) {
      const majority = majorityAnswer(triplet.annotations.map((a) => a.answer));
      if (majority === null) skip('no-majority');
      else withMajority.push({ triplet, majority });
    }
    const failures = new FailureLog();
    const resolver = await ImageResolver.create({
      images: options.images,
      map: options.map,
      ...(options.within ? { within: options.within } : {}),
    });
    const plan = await planFaces(withMajority, resolver, failures, progress);
    timings.resolveMs = lap();

    const paths = [...plan.boxesByPath.keys()];
    const hashes = await hashImages(paths, (done) => {
      if (done % 1000 === 0 || done === paths.length) progress({ phase: 'hash', done, total: paths.length });
    });
    const faceFailures = new Map<string, FaceFailure>();
    const jobs: ImageFaces[] = [];
    for (const path of paths) {
      const sha = hashes.get(path)!;
      const boxes = [...plan.boxesByPath.get(path)!.values()];
      if (typeof sha === 'string') {
        jobs.push({ path, sha256: sha, boxes });
        continue;
      }
      failures.note(plan.urlOfPath.get(path)!, sha.reason, sha.message);
      for (const box of boxes) faceFailures.set(faceKey(path, box), sha);
    }
    timings.hashMs = lap();

    // Embed, per model: all outputs of a model come from one pass over the images.
    const variants: Variant[] = [];
    for (const handle of handles) {
      const mine: Variant[] = [];
      for (const output of outputs) {
        const cache = await EmbeddingCache.open(options.cacheDir ?? null, {
          modelId: handle.ref.id,
          modelVersion: handle.ref.version,
          modelSha256: handle.ref.sha256,
          output,
        });
        const name = uniqueName(
          `${handle.name} ${output}`,
          variants.map((v) => v.name),
        );
        mine.push({ name, handle, output, cache, vectors: new Map() });
        variants.push(mine.at(-1)!);
      }
      const results = await embedImageFaces({
        images: jobs,
        model: handle,
        caches: new Map(mine.map((v) => [v.output, v.cache])),
        maxPixels: options.maxPixels,
        onProgress: (done) => progress({ phase: 'embed', done, total: jobs.length, model: handle.name }),
      });
      results.forEach((result, i) => {
        const job = jobs[i]!;
        job.boxes.forEach((box, b) => {
          const key = faceKey(job.path, box);
          const face = 'failure' in result ? result.failure : result.faces[b]!;
          if (!('reason' in face)) {
            for (const v of mine) v.vectors.set(key, face[v.output]!);
          } else if (!faceFailures.has(key)) {
            faceFailures.set(key, face);
            // An unreadable image is one failure, however many of its boxes are wanted.
            if (face.reason === 'empty-box' || b === 0)
              failures.note(plan.urlOfPath.get(job.path)!, face.reason, face.message);
          }
        });
      });
    }
    timings.embedMs = lap();

    // Scored: the triplets whose three faces every model embedded; the first failing face says why not.
    const used: Candidate[] = [];
    for (const c of plan.candidates) {
      const reason = skipReason(c, faceFailures, variants);
      if (reason) skip(reason);
      else used.push(c);
    }
    const info = used.map((c) => ({
      type: c.triplet.type,
      unanimous: unanimous(c.triplet.annotations.map((a) => a.answer)),
    }));
    const human = subsetStats(
      used.map((c) => humanAgreement(c.triplet.annotations.map((a) => a.answer))),
      info,
      bootstrap,
    );
    const variantMetrics: FecVariantMetrics[] = [];
    const variantReports: FecReport['variants'] = [];
    const galleryFaces: GalleryFaces = new Map();
    for (const [k, v] of variants.entries()) {
      const scores = used.map((c) => {
        const [a, b, d] = c.faces.map((key) => v.vectors.get(key as string)!);
        return scoreTriplet([a!, b!, d!], c.majority, distance);
      });
      variantMetrics.push({
        variant: v.name,
        model: v.handle.name,
        output: v.output,
        distance: distanceName,
        tiedTriplets: scores.filter((s) => s.modelOdd === null).length,
        ...subsetStats(
          scores.map((s) => s.credit),
          info,
          bootstrap,
        ),
      });
      variantReports.push({
        variant: v.name,
        cache: { hits: v.cache.hits, misses: v.cache.misses },
        margins: marginHistogram(scores),
        gallery: galleryOf(used, scores, gallerySize, galleryFaces),
      });
      progress({ phase: 'score', done: k + 1, total: variants.length });
    }
    timings.scoreMs = lap();
    const thumbnails = await attachThumbnails(
      variantReports.map((r) => r.gallery),
      galleryFaces,
      options.maxPixels,
      progress,
    );
    timings.reportMs = lap();

    const byType = Object.fromEntries(
      TRIPLET_TYPES.map((type) => [type, { parsed: 0, used: 0 }]),
    ) as FecReport['triplets']['byType'];
    for (const tr of parsed.triplets) byType[tr.type].parsed++;
    for (const c of used) byType[c.triplet.type].used++;
    const malformedByCode: FecReport['source']['malformedByCode'] = {};
    for (const m of parsed.malformed) malformedByCode[m.code] = (malformedByCode[m.code] ?? 0) + 1;
    // A loop, not Math.min(...counts): half a million arguments overflow the stack.
    const annotators = { min: 0, max: 0 };
    for (const [i, tr] of parsed.triplets.entries()) {
      const n = tr.annotations.length;
      annotators.min = i === 0 ? n : Math.min(annotators.min, n);
      annotators.max = Math.max(annotators.max, n);
    }
    timings.totalMs = Math.round(performance.now() - started);

    return {
      kind: 'fec',
      formatVersion: 1,
      createdAt: new Date().toISOString(),
      params: {
        triplets: file,
        images: options.images ? resolve(options.images) : null,
        map: options.map ? resolve(options.map) : null,
        models: handles.map((h) => h.ref.manifest),
        outputs,
        distance: distanceName,
        bootstrapSamples: bootstrap.samples,
        seed: bootstrap.seed,
        gallerySize,
        majority: 'more-than-half',
      },
      models: handles.map((h) => h.ref),
      metrics: { variants: variantMetrics, human },
      report: {
        source: {
          file,
          sha256: fileSha,
          rows: parsed.rows,
          blankLines: parsed.blankLines,
          triplets: parsed.triplets.length,
          malformed: parsed.malformed.length,
          malformedByCode,
          malformedRows: parsed.malformed.slice(0, MAX_LISTED),
          malformedNotListed: Math.max(0, parsed.malformed.length - MAX_LISTED),
        },
        triplets: {
          parsed: parsed.triplets.length,
          used: used.length,
          skipped,
          byType,
          strict: info.filter((i) => i.unanimous).length,
          annotators,
        },
        images: {
          urls: plan.urls,
          resolved: plan.resolved,
          failed: failures.failed,
          failures: failures.failures,
          failuresNotListed: failures.notListed,
        },
        faces: {
          unique: [...plan.boxesByPath.values()].reduce((n, boxes) => n + boxes.size, 0),
          embedded: variants[0]!.vectors.size,
        },
        variants: variantReports,
        thumbnails,
      },
      timings,
    };
  } finally {
    await Promise.all(handles.map((h) => h.close()));
  }
}

function skipReason(
  c: Candidate,
  failures: ReadonlyMap<string, FaceFailure>,
  variants: readonly Variant[],
): SkipReason | null {
  for (const face of c.faces) {
    if (typeof face !== 'string') return face.reason;
    const failure = failures.get(face);
    if (failure) return failure.reason;
    if (!variants.every((v) => v.vectors.has(face))) return 'unreadable';
  }
  return null;
}

function uniqueName(name: string, taken: readonly string[]): string {
  if (!taken.includes(name)) return name;
  let i = 2;
  while (taken.includes(`${name} #${i}`)) i++;
  return `${name} #${i}`;
}

function lapTimer(): () => number {
  let last = performance.now();
  return () => {
    const now = performance.now();
    const ms = Math.round(now - last);
    last = now;
    return ms;
  };
}
