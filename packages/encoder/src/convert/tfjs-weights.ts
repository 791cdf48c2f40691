import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  quantization?: { dtype: 'uint8' | 'uint16' | 'float16'; scale?: number; min?: number };
}

export interface WeightGroup {
  paths: string[];
  weights: WeightSpec[];
}

export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/**
 * Reads a tfjs `*-weights_manifest.json` and its shards into float32 tensors.
 *
 * Quantised weights are dequantised exactly as tfjs does when it loads them
 * (`q * scale + min`, computed in float64 and stored as float32), so the ONNX model holds the
 * very numbers the reference runs on.
 */
export async function readTfjsWeights(manifestPath: string): Promise<Map<string, Tensor>> {
  const groups = JSON.parse(await readFile(manifestPath, 'utf8')) as WeightGroup[];
  return readWeightGroups(groups, dirname(manifestPath), manifestPath);
}

/**
 * The tensors of weight groups whose shard paths are relative to `dir` (a weights manifest's
 * groups, or a graph model's `weightsManifest`). int32 tensors (a graph's axes) come back as
 * float32 too: they hold small integers, which float32 keeps exactly.
 */
export async function readWeightGroups(
  groups: WeightGroup[],
  dir: string,
  label: string,
): Promise<Map<string, Tensor>> {
  const tensors = new Map<string, Tensor>();
  for (const group of groups) {
    const shards = await Promise.all(group.paths.map((p) => readFile(join(dir, p))));
    const bytes = Buffer.concat(shards);
    let offset = 0;
    for (const spec of group.weights) {
      const size = spec.shape.reduce((a, b) => a * b, 1);
      const { data, byteLength } = decode(spec, bytes, offset, size);
      tensors.set(spec.name, { shape: spec.shape, data });
      offset += byteLength;
    }
    if (offset !== bytes.byteLength) {
      throw new Error(`${label}: weights use ${offset} bytes but the shards hold ${bytes.byteLength}`);
    }
  }
  return tensors;
}

// Typed-array views over a copy of the bytes (aligned, little-endian like every platform Node runs on).
function view<T>(bytes: Buffer, offset: number, byteLength: number, make: (b: ArrayBuffer) => T): T {
  return make(Uint8Array.prototype.slice.call(bytes, offset, offset + byteLength).buffer);
}

function decode(spec: WeightSpec, bytes: Buffer, offset: number, size: number) {
  const q = spec.quantization;
  if (!q) {
    const byteLength = size * 4;
    const data =
      spec.dtype === 'int32'
        ? Float32Array.from(view(bytes, offset, byteLength, (b) => new Int32Array(b)))
        : view(bytes, offset, byteLength, (b) => new Float32Array(b));
    return { data, byteLength };
  }
  if (q.dtype === 'uint8' || q.dtype === 'uint16') {
    if (q.scale === undefined || q.min === undefined) {
      throw new Error(`weight ${spec.name}: ${q.dtype} quantisation without scale/min`);
    }
    const width = q.dtype === 'uint8' ? 1 : 2;
    const quantised =
      width === 1
        ? view(bytes, offset, size, (b) => new Uint8Array(b))
        : view(bytes, offset, size * 2, (b) => new Uint16Array(b));
    const data = new Float32Array(size);
    const { scale, min } = q;
    for (let i = 0; i < size; i++) data[i] = quantised[i]! * scale + min;
    return { data, byteLength: size * width };
  }
  throw new Error(`weight ${spec.name}: unsupported quantisation ${q.dtype}`);
}
