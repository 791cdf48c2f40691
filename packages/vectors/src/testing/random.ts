/**
 * Deterministic data for tests and benchmarks: a seeded PRNG (mulberry32), random unit vectors
 * (normalised Gaussians, i.e. uniform on the sphere: the hardest case for ANN search) and
 * clustered unit vectors (structure like real embeddings have).
 */
/**
 * The HNSW search beam that uniform random 256-d vectors need for recall@10 ≥ 0.98 at 20k points.
 * Tests on such data pass it explicitly: the stores' default beam is sized for real embeddings.
 */
export const RANDOM_DATA_EF_SEARCH = 768;

export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gaussian(rand: () => number): () => number {
  return () => {
    const u = rand() || Number.MIN_VALUE;
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
}

/** `count` unit vectors back to back in one Float32Array (count × dims). */
export function randomUnitVectors(count: number, dims: number, seed: number): Float32Array {
  const g = gaussian(prng(seed));
  const out = new Float32Array(count * dims);
  for (let i = 0; i < count; i++) {
    let sq = 0;
    for (let j = 0; j < dims; j++) {
      const x = g();
      out[i * dims + j] = x;
      sq += x * x;
    }
    const n = Math.sqrt(sq);
    for (let j = 0; j < dims; j++) out[i * dims + j]! /= n;
  }
  return out;
}

/**
 * `count` unit vectors around `centres` shared random centres (cosine ≈ 0.7 to the centre, ≈ 0.5
 * between members of one centre): structure like real embeddings have (faces of one person or
 * expression sit together), unlike uniform noise. The centres depend only on `centres` and dims,
 * so data and queries made with different seeds share them.
 */
export function clusteredUnitVectors(
  count: number,
  dims: number,
  seed: number,
  centres = 1_000,
): Float32Array {
  const centre = randomUnitVectors(centres, dims, 7);
  const noise = randomUnitVectors(count, dims, seed);
  const pick = prng(seed + 1);
  const out = new Float32Array(count * dims);
  for (let i = 0; i < count; i++) {
    const c = Math.floor(pick() * centres) * dims;
    let sq = 0;
    for (let j = 0; j < dims; j++) {
      const x = centre[c + j]! + noise[i * dims + j]!;
      out[i * dims + j] = x;
      sq += x * x;
    }
    const n = Math.sqrt(sq);
    for (let j = 0; j < dims; j++) out[i * dims + j]! /= n;
  }
  return out;
}

/** A deterministic UUID-shaped id for test point n (version-4 layout, not random). */
export function testId(n: number, namespace = 0): string {
  const hex = (namespace >>> 0).toString(16).padStart(8, '0') + n.toString(16).padStart(24, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Exact top-k by cosine (vectors and query unit length) over the rows `accept` lets through. */
export function bruteForceTopK(
  data: Float32Array,
  dims: number,
  query: Float32Array,
  k: number,
  accept: (row: number) => boolean = () => true,
): { row: number; score: number }[] {
  const rows = data.length / dims;
  const best: { row: number; score: number }[] = [];
  let floor = Number.NEGATIVE_INFINITY;
  for (let r = 0; r < rows; r++) {
    if (!accept(r)) continue;
    let s = 0;
    const off = r * dims;
    for (let j = 0; j < dims; j++) s += query[j]! * data[off + j]!;
    if (best.length < k || s > floor) {
      best.push({ row: r, score: s });
      if (best.length > k) {
        best.sort((a, b) => b.score - a.score);
        best.length = k;
      }
      if (best.length === k) floor = Math.min(...best.map((b) => b.score));
    }
  }
  return best.sort((a, b) => b.score - a.score);
}
