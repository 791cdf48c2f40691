/**
 * A seeded PRNG (xoshiro128**, seeded through splitmix32), so that every random choice in an
 * evaluation (bootstrap resamples, generated triplets) is reproducible from the seed alone.
 * Math.random cannot be seeded; mulberry32's 2^32 period is too short for a million-draw bootstrap.
 */
export class Random {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number | string) {
    let x = typeof seed === 'number' ? seed >>> 0 : hashString(seed);
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** Uniform 32-bit unsigned integer. */
  uint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  float(): number {
    const hi = this.uint32() >>> 5;
    const lo = this.uint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /**
   * Uniform integer in [0, n), exactly (no modulo bias). Below 2^21 Lemire's multiply-and-reject
   * on one 32-bit draw: x·n stays under 2^53, so the product is exact in a double. Above, 53 bits.
   */
  int(n: number): number {
    if (n <= 0x200000) {
      for (;;) {
        const m = this.uint32() * n;
        // m / 2^32 and its remainder, exactly: scaling by a power of two never rounds.
        const high = Math.floor(m * 2.3283064365386963e-10);
        const low = m - high * 0x100000000;
        if (low >= n || low >= (0x100000000 - n) % n) return high;
      }
    }
    return Math.floor(this.float() * n);
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.int(items.length)]!;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** FNV-1a: turns a label like `seed:subset` into a 32-bit seed. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
