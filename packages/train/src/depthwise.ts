/**
 * The depthwise 3×3 convolution kernels of the trainable dense blocks, on channel-major (CNHW)
 * maps, forward and backward. dense-block.ts runs them on this thread; depthwise-pool.ts passes
 * their source to a worker thread, so they must stay self-contained (no imports, no closures).
 */

/** TF SAME for a 3×3 kernel: ceil(side / stride) outputs, the odd padded pixel after the map. */
export function sameGeometry(
  side: number,
  stride: number,
): { outSide: number; pad: number; padTotal: number } {
  const outSide = Math.ceil(side / stride);
  const padTotal = Math.max((outSide - 1) * stride + 3 - side, 0);
  return { outSide, pad: Math.floor(padTotal / 2), padTotal };
}

/** Copies one side×side plane into the interior of a zero-bordered ps×ps scratch plane. */
export function padPlane(
  x: Float32Array,
  from: number,
  side: number,
  scratch: Float32Array,
  ps: number,
  pad: number,
) {
  // Plain loops: a subarray per row costs more than the copy on 7-wide rows.
  let k = from;
  for (let y = 0; y < side; y++) {
    const to = (y + pad) * ps + pad;
    for (let i = 0; i < side; i++) scratch[to + i] = x[k++]!;
  }
}

/**
 * Depthwise 3×3 convolution of CNHW maps with TF SAME padding; `filter` in tfjs layout
 * [3, 3, channels, 1] (index tap·channels + channel).
 */
export function depthwiseForward(
  x: Float32Array,
  n: number,
  side: number,
  channels: number,
  filter: Float32Array,
  stride: number,
): Float32Array {
  const { outSide, pad, padTotal } = sameGeometry(side, stride);
  const ps = side + padTotal;
  const scratch = new Float32Array(ps * ps);
  const inPlane = side * side;
  const outPlane = outSide * outSide;
  const y = new Float32Array(channels * n * outPlane);
  const c = channels;
  for (let ch = 0; ch < c; ch++) {
    const w0 = filter[ch]!;
    const w1 = filter[c + ch]!;
    const w2 = filter[2 * c + ch]!;
    const w3 = filter[3 * c + ch]!;
    const w4 = filter[4 * c + ch]!;
    const w5 = filter[5 * c + ch]!;
    const w6 = filter[6 * c + ch]!;
    const w7 = filter[7 * c + ch]!;
    const w8 = filter[8 * c + ch]!;
    for (let b = 0; b < n; b++) {
      padPlane(x, (ch * n + b) * inPlane, side, scratch, ps, pad);
      let o = (ch * n + b) * outPlane;
      for (let oy = 0; oy < outSide; oy++) {
        const r0 = oy * stride * ps;
        const r1 = r0 + ps;
        const r2 = r1 + ps;
        for (let ox = 0; ox < outSide; ox++) {
          const ix = ox * stride;
          y[o++] =
            scratch[r0 + ix]! * w0 +
            scratch[r0 + ix + 1]! * w1 +
            scratch[r0 + ix + 2]! * w2 +
            scratch[r1 + ix]! * w3 +
            scratch[r1 + ix + 1]! * w4 +
            scratch[r1 + ix + 2]! * w5 +
            scratch[r2 + ix]! * w6 +
            scratch[r2 + ix + 1]! * w7 +
            scratch[r2 + ix + 2]! * w8;
        }
      }
    }
  }
  return y;
}

/**
 * Backward of `depthwiseForward`: adds dLoss/dFilter into `gradFilter` and returns dLoss/dx
 * (null when `needInputGrad` is false). For stride 1, dx is the forward convolution of dy with
 * the filter turned 180°.
 */
export function depthwiseBackward(
  x: Float32Array,
  dy: Float32Array,
  n: number,
  side: number,
  channels: number,
  filter: Float32Array,
  stride: number,
  gradFilter: Float32Array,
  needInputGrad: boolean,
): Float32Array | null {
  const { outSide, pad, padTotal } = sameGeometry(side, stride);
  const ps = side + padTotal;
  const scratch = new Float32Array(ps * ps);
  const inPlane = side * side;
  const outPlane = outSide * outSide;
  const c = channels;
  for (let ch = 0; ch < c; ch++) {
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let s4 = 0;
    let s5 = 0;
    let s6 = 0;
    let s7 = 0;
    let s8 = 0;
    for (let b = 0; b < n; b++) {
      padPlane(x, (ch * n + b) * inPlane, side, scratch, ps, pad);
      let o = (ch * n + b) * outPlane;
      for (let oy = 0; oy < outSide; oy++) {
        const r0 = oy * stride * ps;
        const r1 = r0 + ps;
        const r2 = r1 + ps;
        for (let ox = 0; ox < outSide; ox++) {
          const ix = ox * stride;
          const g = dy[o++]!;
          s0 += g * scratch[r0 + ix]!;
          s1 += g * scratch[r0 + ix + 1]!;
          s2 += g * scratch[r0 + ix + 2]!;
          s3 += g * scratch[r1 + ix]!;
          s4 += g * scratch[r1 + ix + 1]!;
          s5 += g * scratch[r1 + ix + 2]!;
          s6 += g * scratch[r2 + ix]!;
          s7 += g * scratch[r2 + ix + 1]!;
          s8 += g * scratch[r2 + ix + 2]!;
        }
      }
    }
    const sums = [s0, s1, s2, s3, s4, s5, s6, s7, s8];
    for (let t = 0; t < 9; t++) gradFilter[t * c + ch] = gradFilter[t * c + ch]! + sums[t]!;
  }
  if (!needInputGrad) return null;
  if (stride === 1 && pad === 1 && padTotal === 2) {
    const turned = new Float32Array(filter.length);
    for (let t = 0; t < 9; t++) turned.set(filter.subarray((8 - t) * c, (9 - t) * c), t * c);
    return depthwiseForward(dy, n, side, c, turned, 1);
  }
  // Any other geometry: scatter each output's gradient over its nine taps, plane by plane.
  const dx = new Float32Array(x.length);
  for (let ch = 0; ch < c; ch++) {
    for (let b = 0; b < n; b++) {
      scratch.fill(0);
      let o = (ch * n + b) * outPlane;
      for (let oy = 0; oy < outSide; oy++)
        for (let ox = 0; ox < outSide; ox++) {
          const g = dy[o++]!;
          for (let t = 0; t < 9; t++) {
            const at = (oy * stride + Math.floor(t / 3)) * ps + ox * stride + (t % 3);
            scratch[at] = scratch[at]! + g * filter[t * c + ch]!;
          }
        }
      const to = (ch * n + b) * inPlane;
      for (let y = 0; y < side; y++) {
        dx.set(scratch.subarray((y + pad) * ps + pad, (y + pad) * ps + pad + side), to + y * side);
      }
    }
  }
  return dx;
}
