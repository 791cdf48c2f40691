import { dirname, resolve } from 'node:path';
import { type EncoderOptions, sha256File } from '@fever/encoder';
import { clusterDescriptors } from '@fever/people';
import { EmbeddingCache, type EmbeddingOutput } from '../embed/cache.ts';
import { detectLargestFaces } from '../embed/detect.ts';
import { type DistanceName, distanceFunction } from '../embed/distance.ts';
import { embedImageFaces, hashImages, type ImageFaces } from '../embed/faces.ts';
import { ModelHandle, vectorOf } from '../embed/model.ts';
import { WHOLE_IMAGE } from '../fec/types.ts';
import { type LabelledImage, readLabels } from '../labels.ts';
import { describeFaces } from '../people/describe.ts';
import type { ProgressCallback } from '../progress.ts';
import type { FaceMode, RetrievalEvalResult, RetrievalReport, RetrievalVariantMetrics } from './result.ts';
import { KNN_KS, PRECISION_K, scoreQueries } from './score.ts';

/** `--group-by person-cluster`: group by the people the identity descriptors cluster into. */
export const PERSON_CLUSTER = 'person-cluster';

/**
 * The items with `group` set to their identity cluster; a face that cannot be described (no face,
 * unreadable) is a group of its own.
 */
async function groupByPersonCluster(
  items: LabelledImage[],
  mode: FaceMode,
  options: RetrievalEvalOptions,
): Promise<LabelledImage[]> {
  const { faces } = await describeFaces(items, {
    faces: mode,
    ...(options.encoder ? { encoder: options.encoder } : {}),
    ...(options.maxPixels ? { maxPixels: options.maxPixels } : {}),
  });
  const { labels } = clusterDescriptors(faces.map((f) => f.identity));
  const group = new Map(faces.map((f, i) => [f.index, `cluster-${labels[i]}`]));
  return items.map((item, i) => ({ ...item, group: group.get(i) ?? `alone-${i}` }));
}

export interface RetrievalEvalOptions {
  /** CSV `path,label[,…]` with a header. */
  labels: string;
  /** Folder the paths are relative to; the CSV's folder by default. */
  root?: string;
  /** `crop`: the whole image is the face; `detect`: the largest detected face. */
  faces?: FaceMode;
  /**
   * A column of the labels CSV: neighbours with the query's value are left out (same subject, same
   * sequence). `person-cluster` (PERSON_CLUSTER), for sets without identity labels: the faces are
   * clustered into people by identity descriptor (@fever/people) and the query's cluster is left out.
   */
  groupBy?: string;
  models?: (string | undefined)[];
  outputs?: EmbeddingOutput[];
  distance?: DistanceName;
  cacheDir?: string | null;
  maxPixels?: number;
  encoder?: Omit<EncoderOptions, 'expressionModel'>;
  onProgress?: ProgressCallback;
}

/** Runs a retrieval-quality evaluation on a labelled image set; see RetrievalEvalResult. */
export async function runRetrievalEval(options: RetrievalEvalOptions): Promise<RetrievalEvalResult> {
  const started = performance.now();
  let last = started;
  const lap = () => {
    const now = performance.now();
    const ms = Math.round(now - last);
    last = now;
    return ms;
  };
  const progress = options.onProgress ?? (() => {});
  const mode = options.faces ?? 'crop';
  const outputs = options.outputs?.length
    ? [...new Set(options.outputs)]
    : (['embedding'] as EmbeddingOutput[]);
  const distanceName = options.distance ?? 'cosine';
  const distance = distanceFunction(distanceName);
  const modelPaths = options.models?.length ? options.models : [undefined];
  const handles = await Promise.all(modelPaths.map((m) => ModelHandle.load(m, options.encoder ?? {})));
  for (const h of handles) h.checkOutputs(outputs);

  try {
    const labelsFile = resolve(options.labels);
    const root = resolve(options.root ?? dirname(labelsFile));
    const byCluster = options.groupBy === PERSON_CLUSTER;
    let items = await readLabels(labelsFile, { root, ...(byCluster ? {} : { groupBy: options.groupBy }) });
    if (byCluster) items = await groupByPersonCluster(items, mode, options);
    const labelsSha = await sha256File(labelsFile);
    progress({ phase: 'parse', done: items.length, total: items.length });
    const readMs = lap();

    const unreadable = new Map<string, { path: string; code: string; message: string }>();
    const noFace = new Set<string>();
    const variants: {
      name: string;
      handle: ModelHandle;
      output: EmbeddingOutput;
      cache: EmbeddingCache | null;
    }[] = [];
    const vectors = new Map<string, (Float32Array | undefined)[]>();
    const hashes =
      mode === 'crop'
        ? await hashImages(
            items.map((i) => i.file),
            (done) => progress({ phase: 'hash', done, total: items.length }),
          )
        : null;
    for (const handle of handles) {
      const mine: typeof variants = [];
      for (const output of outputs) {
        const cache =
          mode === 'crop'
            ? await EmbeddingCache.open(options.cacheDir ?? null, {
                modelId: handle.ref.id,
                modelVersion: handle.ref.version,
                modelSha256: handle.ref.sha256,
                output,
              })
            : null;
        const name = `${handle.name} ${output}`;
        mine.push({ name, handle, output, cache });
        vectors.set(name, new Array(items.length));
      }
      variants.push(...mine);
      const onProgress = (done: number) =>
        progress({ phase: 'embed', done, total: items.length, model: handle.name });
      if (mode === 'crop') {
        const jobs: (ImageFaces & { index: number })[] = [];
        items.forEach((item, index) => {
          const sha = hashes!.get(item.file)!;
          if (typeof sha === 'string')
            jobs.push({ path: item.file, sha256: sha, boxes: [WHOLE_IMAGE], index });
          else unreadable.set(item.path, { path: item.path, code: sha.code, message: sha.message });
        });
        const caches = new Map(mine.map((v) => [v.output, v.cache!]));
        const results = await embedImageFaces({
          images: jobs,
          model: handle,
          caches,
          maxPixels: options.maxPixels,
          onProgress,
        });
        results.forEach((result, j) => {
          const { index } = jobs[j]!;
          const face = 'failure' in result ? result.failure : result.faces[0]!;
          if ('reason' in face) {
            const path = items[index]!.path;
            unreadable.set(path, { path, code: face.code, message: face.message });
            return;
          }
          for (const v of mine) vectors.get(v.name)![index] = face[v.output];
        });
      } else {
        const largest = await detectLargestFaces(items, handle, options.maxPixels, onProgress);
        largest.forEach((face, index) => {
          const path = items[index]!.path;
          if (face === null) noFace.add(path);
          else if ('code' in face) unreadable.set(path, { path, ...face });
          else for (const v of mine) vectors.get(v.name)![index] = vectorOf(face, v.output);
        });
      }
    }
    const embedMs = lap();

    // Items with a vector from every variant; the same set for all, so figures compare.
    const usable = items.flatMap((_item, i) =>
      variants.every((v) => vectors.get(v.name)![i] !== undefined) ? [i] : [],
    );
    const labelNames = [...new Set(usable.map((i) => items[i]!.label))].sort();
    const labelIndex = new Map(labelNames.map((l, i) => [l, i]));
    const withoutCandidates = new Set<string>();
    const metrics: RetrievalVariantMetrics[] = [];
    const reports: RetrievalReport['variants'] = [];
    for (const [vi, v] of variants.entries()) {
      const table = vectors.get(v.name)!;
      const scored = scoreQueries(usable, items, table, labelIndex, distance);
      for (const i of scored.withoutCandidates) withoutCandidates.add(items[i]!.path);
      metrics.push({
        variant: v.name,
        model: v.handle.name,
        output: v.output,
        distance: distanceName,
        ...scored.metrics,
      });
      reports.push({
        variant: v.name,
        cache: v.cache ? { hits: v.cache.hits, misses: v.cache.misses } : null,
        perLabel: scored.perLabel.map((p, l) => ({ label: labelNames[l]!, ...p })),
        confusion: scored.confusion.map((matrix, k) => ({ k: KNN_KS[k]!, labels: labelNames, matrix })),
      });
      progress({ phase: 'score', done: vi + 1, total: variants.length });
    }
    const scoreMs = lap();

    const byLabel: Record<string, number> = {};
    for (const item of items) byLabel[item.label] = (byLabel[item.label] ?? 0) + 1;
    return {
      kind: 'retrieval',
      formatVersion: 1,
      createdAt: new Date().toISOString(),
      params: {
        labels: labelsFile,
        root,
        faces: mode,
        groupBy: options.groupBy ?? null,
        models: handles.map((h) => h.ref.manifest),
        outputs,
        distance: distanceName,
        ks: [...KNN_KS],
        precisionK: PRECISION_K,
      },
      models: handles.map((h) => h.ref),
      metrics: { variants: metrics },
      report: {
        labels: {
          file: labelsFile,
          sha256: labelsSha,
          root,
          items: items.length,
          byLabel,
          groups: options.groupBy ? new Set(items.map((i) => i.group)).size : null,
        },
        images: {
          used: usable.length,
          unreadable: [...unreadable.values()],
          noFace: [...noFace],
          withoutCandidates: [...withoutCandidates],
        },
        variants: reports,
      },
      timings: { readMs, embedMs, scoreMs, totalMs: Math.round(performance.now() - started) },
    };
  } finally {
    await Promise.all(handles.map((h) => h.close()));
  }
}
