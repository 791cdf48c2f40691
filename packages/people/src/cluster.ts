/**
 * Clusters faces into people by their identity descriptors.
 *
 * Algorithm (single linkage over a k-nearest-neighbour graph):
 *   1. For every face, its `neighbours` nearest faces by cosine distance (exact below
 *      EXACT_LIMIT faces, a usearch HNSW graph above it).
 *   2. Two faces are linked when one is among the other's nearest and their cosine distance is
 *      below `threshold`.
 *   3. People are the connected components of the links (union-find).
 *
 * Restricting links to the kNN graph bounds the work (n·k candidate pairs, not n²) and damps
 * chaining: a face links to at most `neighbours` others, so one ambiguous face cannot glue two
 * large clusters through hundreds of weak links.
 */
import { type BatchMatches, exactSearch, Index, MetricKind, ScalarKind } from 'usearch';

/**
 * Cosine distance under which two faces link (face-api-recognition descriptors, landmark-aligned
 * crops). Chosen on muxspace and CK+48 for pairwise precision: docs/QUALITY.md, "People".
 */
export const DEFAULT_LINK_DISTANCE = 0.04;
/**
 * Two faces are one person for person=other when no cluster says otherwise (an upload, a face not
 * clustered yet) and their descriptors are nearer than this cosine distance. Looser than the link
 * distance: there a missed own face costs more than a stranger left out (docs/QUALITY.md, "People").
 */
export const SAME_PERSON_DISTANCE = 0.06;
/** Nearest faces each face may link to. */
export const DEFAULT_NEIGHBOURS = 5;
/** Up to this many faces the kNN graph is exact; above, an HNSW graph finds it. */
export const EXACT_LIMIT = 5000;

export interface ClusterOptions {
  /** Cosine distance (1 − cosine similarity) below which two neighbours link. */
  threshold?: number;
  neighbours?: number;
  /** Threads for the kNN search (0 = all cores). */
  threads?: number;
}

/**
 * The cluster of each descriptor: `labels[i]` is a cluster number, 0..count-1, numbered in the
 * order of each cluster's first member. Descriptors must be unit length and of one size.
 */
export function clusterDescriptors(
  descriptors: readonly Float32Array[],
  options: ClusterOptions = {},
): { labels: Int32Array; count: number } {
  const threshold = options.threshold ?? DEFAULT_LINK_DISTANCE;
  const neighbours = options.neighbours ?? DEFAULT_NEIGHBOURS;
  if (!(threshold >= 0 && threshold <= 2))
    throw new RangeError(`threshold must be in [0, 2], got ${threshold}`);
  if (!Number.isInteger(neighbours) || neighbours < 1) {
    throw new RangeError(`neighbours must be a whole number ≥ 1, got ${neighbours}`);
  }
  const n = descriptors.length;
  const parent = new Int32Array(n);
  for (let i = 0; i < n; i++) parent[i] = i;
  const find = (i: number): number => {
    let r = i;
    while (parent[r] !== r) r = parent[r]!;
    while (parent[i] !== r) {
      const next = parent[i]!;
      parent[i] = r;
      i = next;
    }
    return r;
  };
  if (n > 1) {
    const graph = nearestNeighbours(descriptors, Math.min(neighbours + 1, n), options.threads ?? 0);
    for (let i = 0; i < n; i++) {
      const { keys, distances } = graph.get(i);
      for (let m = 0; m < keys.length; m++) {
        const j = Number(keys[m]!);
        if (j === i || j >= n || !(distances[m]! < threshold)) continue;
        const a = find(i);
        const b = find(j);
        // The smaller root wins: labels do not depend on the order links are met.
        if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
      }
    }
  }
  const labels = new Int32Array(n);
  const number = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const root = find(i);
    let label = number.get(root);
    if (label === undefined) {
      label = number.size;
      number.set(root, label);
    }
    labels[i] = label;
  }
  return { labels, count: number.size };
}

/** Each descriptor's `k` nearest (itself included) with cosine distances, by index. */
function nearestNeighbours(descriptors: readonly Float32Array[], k: number, threads: number): BatchMatches {
  const n = descriptors.length;
  const dims = descriptors[0]!.length;
  const matrix = new Float32Array(n * dims);
  descriptors.forEach((d, i) => {
    if (d.length !== dims) throw new RangeError(`descriptor ${i} has ${d.length} dimensions, not ${dims}`);
    matrix.set(d, i * dims);
  });
  if (n <= EXACT_LIMIT) return exactSearch(matrix, matrix, dims, k, MetricKind.Cos, threads) as BatchMatches;
  const index = new Index({
    dimensions: dims,
    metric: MetricKind.Cos,
    quantization: ScalarKind.F32,
    // A narrow build and search beam: the links need each face's near neighbours, not an exact
    // top k (the HNSW test holds recall), and a 100k-face graph builds in a fraction of the time.
    connectivity: 16,
    expansion_add: 40,
    expansion_search: Math.max(32, k * 2),
    multi: false,
  });
  const keys = new BigUint64Array(n);
  for (let i = 0; i < n; i++) keys[i] = BigInt(i);
  index.add(keys, matrix, threads);
  return index.search(matrix, k, threads) as BatchMatches;
}
