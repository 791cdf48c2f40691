/**
 * IEEE 754 half precision, for the trunk maps a fine-tuned block trains on: 28 709 faces × 2
 * orientations × 25 088 values are 5.8 GB as float32 and 2.9 GB as float16. The codec is the
 * vector store's (Node 20 has no Float16Array). The rounding (relative 2⁻¹¹) is far below what
 * training notices.
 */
import { f16ToF32Table, f32ToF16 } from '@fever/vectors';

export function encodeHalf(
  values: Float32Array,
  out: Uint16Array = new Uint16Array(values.length),
): Uint16Array {
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16(values[i]!);
  return out;
}

export function decodeHalfInto(halves: Uint16Array, out: Float32Array, offset = 0): void {
  const table = f16ToF32Table();
  for (let i = 0; i < halves.length; i++) out[offset + i] = table[halves[i]!]!;
}
