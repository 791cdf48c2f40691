import type { Distance } from './types.ts';

export function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    s += x * x;
  }
  return Math.sqrt(s);
}

/** A unit-length copy (cosine collections store and compare unit vectors, as Qdrant does). */
export function normalized(v: Float32Array): Float32Array {
  const n = norm(v);
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i]! / n;
  return out;
}

/** The similarity both adapters report: higher is closer. */
export function similarityFromDistance(distance: Distance, d: number): number {
  return distance === 'cosine' ? 1 - d : 1 / (1 + d);
}

/** Qdrant's Euclid score is the distance itself; this maps it onto the shared scale. */
export function euclidSimilarity(l2: number): number {
  return 1 / (1 + l2);
}

// IEEE 754 half precision, for the embedded store's f16 vector copy (Node 20 has no Float16Array).
let f16Table: Float32Array | undefined;

/** Lookup table from the 65536 f16 bit patterns to f32: decoding is one array read. */
export function f16ToF32Table(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) t[h] = sign * 2 ** -14 * (frac / 1024);
    else if (exp === 31) t[h] = frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
    else t[h] = sign * 2 ** (exp - 15) * (1 + frac / 1024);
  }
  f16Table = t;
  return t;
}

const f32Buf = new Float32Array(1);
const u32Buf = new Uint32Array(f32Buf.buffer);

/** f32 → f16 bits, round to nearest even; overflow saturates to ±Inf. */
export function f32ToF16(value: number): number {
  f32Buf[0] = value;
  const x = u32Buf[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let h = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++; // a carry into the exponent is correct
  return sign | h;
}
