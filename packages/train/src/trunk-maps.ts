import { createHash } from 'node:crypto';
import { appendFile, mkdir, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DENSE_BLOCK_SHAPES,
  type DenseBlockName,
  decodeImage,
  expressionInput,
  expressionTrunkPrefixModel,
  type ModelManifest,
  type RgbImage,
} from '@fever/encoder';
import { isFeverError } from '@fever/errors';
import type { LabelledImage } from '@fever/eval';
import * as ort from 'onnxruntime-node';
import { encodeHalf } from './half.ts';

/** Each image's map and its mirror image's, float16 [channels, side, side]; null where not asked for. */
export interface TrunkMapSet {
  /** The items that have maps, in input order. */
  items: LabelledImage[];
  original: Uint16Array[];
  flipped: (Uint16Array | null)[];
  /** Values per map: side × side × channels. */
  size: number;
  failures: { path: string; code: string; message: string }[];
}

export interface TrunkMapOptions {
  /** The last block the maps come out of (the fine-tuned block's input). */
  block: DenseBlockName;
  /** sha256 of each item's file (from hashImages); items without one are reported as failures. */
  hashes: ReadonlyMap<string, string | { code: string; message: string }>;
  /** Items whose mirror image is wanted too (flip augmentation of the training part). */
  flip: (item: LabelledImage) => boolean;
  /** Cache folder; null keeps nothing. */
  cacheDir: string | null;
  threads?: number;
  onProgress?: (done: number, total: number) => void;
}

const BATCH = 64;

/**
 * The trunk's feature map after `block` ([channels, side, side]) for every item (the whole image
 * is the face) and, where asked, for its mirror image: computed once by the ONNX graph that the shipped model runs in
 * front of the fine-tuned block, so training sees its very numbers (rounded to float16), and
 * cached on disk by image sha256 + orientation + trunk model sha256.
 */
export async function trunkMaps(
  items: readonly LabelledImage[],
  options: TrunkMapOptions,
): Promise<TrunkMapSet> {
  const { manifest } = await expressionTrunkPrefixModel(options.block);
  const { side, channels } = DENSE_BLOCK_SHAPES[options.block];
  const size = side * side * channels;
  const failures: TrunkMapSet['failures'] = [];
  const wanted: { item: LabelledImage; sha: string; flip: boolean }[] = [];
  const readable: LabelledImage[] = [];
  for (const item of items) {
    const sha = options.hashes.get(item.file);
    if (typeof sha !== 'string') {
      failures.push({
        path: item.path,
        code: sha?.code ?? 'IMAGE_UNREADABLE',
        message: sha?.message ?? 'not hashed',
      });
      continue;
    }
    readable.push(item);
    wanted.push({ item, sha, flip: false });
    if (options.flip(item)) wanted.push({ item, sha, flip: true });
  }
  const cache = await MapCache.open(
    options.cacheDir,
    `${manifest.id}@${manifest.version}`,
    manifest.sha256,
    size,
    wanted,
  );
  const missing = wanted.filter((w) => !cache.has(w.sha, w.flip));
  const progress = options.onProgress ?? (() => {});
  progress(wanted.length - missing.length, wanted.length);

  const bad = new Map<LabelledImage, { code: string; message: string }>();
  if (missing.length > 0) {
    const trunk = await TrunkPrefix.load(options.block, options.threads ?? 0);
    try {
      let done = wanted.length - missing.length;
      // Decoding the next batch (sharp, its own threads) overlaps the current run.
      const decode = (batch: typeof missing) =>
        Promise.all(
          batch.map(async (w) => {
            try {
              const image = await decodeImage(w.item.file);
              return w.flip ? mirrored(image) : image;
            } catch (err) {
              if (!isFeverError(err)) throw err;
              bad.set(w.item, { code: err.code, message: err.message });
              return null;
            }
          }),
        );
      let next = decode(missing.slice(0, BATCH));
      for (let start = 0; start < missing.length; start += BATCH) {
        const batch = missing.slice(start, start + BATCH);
        const images = await next;
        next = decode(missing.slice(start + BATCH, start + 2 * BATCH));
        const ok = batch.flatMap((w, i) => (images[i] ? [{ w, image: images[i]! }] : []));
        if (ok.length > 0) {
          const maps = await trunk.run(ok.map(({ image }) => image));
          ok.forEach(({ w }, i) => {
            cache.set(w.sha, w.flip, encodeHalf(maps.subarray(i * size, (i + 1) * size)));
          });
        }
        await cache.flush();
        done += batch.length;
        progress(done, wanted.length);
      }
    } finally {
      await trunk.close();
    }
  }

  const set: TrunkMapSet = { items: [], original: [], flipped: [], size, failures };
  for (const item of readable) {
    const fault = bad.get(item);
    if (fault) {
      failures.push({ path: item.path, ...fault });
      continue;
    }
    const sha = options.hashes.get(item.file) as string;
    set.items.push(item);
    set.original.push(cache.get(sha, false)!);
    set.flipped.push(options.flip(item) ? cache.get(sha, true)! : null);
  }
  return set;
}

/**
 * The trunk up to a block on onnxruntime: whole images (each one a face crop) in, float32 maps
 * ([channels, side, side] per image, concatenated) out.
 */
export class TrunkPrefix {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly manifest: ModelManifest,
  ) {}

  static async load(block: DenseBlockName, threads = 0): Promise<TrunkPrefix> {
    const { onnx, manifest } = await expressionTrunkPrefixModel(block);
    const session = await ort.InferenceSession.create(onnx, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    return new TrunkPrefix(session, manifest);
  }

  async run(images: readonly RgbImage[]): Promise<Float32Array> {
    const { data, dims } = expressionInput(
      images.map((image) => ({ image, region: { x: 0, y: 0, width: image.width, height: image.height } })),
      this.manifest,
    );
    const input = new ort.Tensor('float32', data, dims);
    const out = await this.session.run({ [this.manifest.input.name]: input });
    const maps = out.map!.data as Float32Array;
    input.dispose();
    return maps;
  }

  close(): Promise<void> {
    return this.session.release();
  }
}

/** The image mirrored left to right. */
export function mirrored(image: RgbImage): RgbImage {
  const { width, height, data } = image;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const s = (y * width + x) * 3;
      const d = (y * width + (width - 1 - x)) * 3;
      out[d] = data[s]!;
      out[d + 1] = data[s + 1]!;
      out[d + 2] = data[s + 2]!;
    }
  return { width, height, data: out };
}

const MAGIC = Buffer.from('FEVMAP01');
const KEY_BYTES = 32;

/**
 * float16 maps on disk: one append-only file per trunk model, fixed-size records (32-byte key,
 * then the map). Several GB for FER2013 with flips, so it is read in chunks (Node reads no file
 * over 2 GiB in one call), only the maps a run asks for are kept in memory (a run without flips
 * skips the mirrored half), and a record cut short by a crash is truncated away.
 */
class MapCache {
  private pending: Buffer[] = [];

  private constructor(
    private readonly file: string | null,
    private readonly model: string,
    private readonly size: number,
    private readonly maps: Map<string, Uint16Array>,
  ) {}

  static async open(
    dir: string | null,
    model: string,
    sha256: string,
    size: number,
    wanted: readonly { sha: string; flip: boolean }[],
  ): Promise<MapCache> {
    const tag = `${model}|${sha256}`;
    if (dir === null) return new MapCache(null, tag, size, new Map());
    const safe = model.replace(/[^A-Za-z0-9._+@-]/g, '_');
    const folder = join(dir, 'trunk-maps', `${safe}-${sha256.slice(0, 12)}`);
    await mkdir(folder, { recursive: true });
    const file = join(folder, 'maps.f16');
    const keep = new Set(wanted.map((w) => mapKey(tag, w.sha, w.flip).toString('hex')));
    return new MapCache(file, tag, size, await readMapFile(file, size, keep));
  }

  has(imageSha: string, flip: boolean): boolean {
    return this.maps.has(this.key(imageSha, flip).toString('hex'));
  }

  get(imageSha: string, flip: boolean): Uint16Array | undefined {
    return this.maps.get(this.key(imageSha, flip).toString('hex'));
  }

  set(imageSha: string, flip: boolean, map: Uint16Array): void {
    if (map.length !== this.size) throw new Error(`map of ${map.length} values, expected ${this.size}`);
    const key = this.key(imageSha, flip);
    this.maps.set(key.toString('hex'), map);
    if (!this.file) return;
    this.pending.push(key, Buffer.from(map.buffer, map.byteOffset, map.byteLength));
  }

  async flush(): Promise<void> {
    if (!this.file || this.pending.length === 0) return;
    const data = Buffer.concat(this.pending);
    this.pending = [];
    await appendFile(this.file, data);
  }

  private key(imageSha: string, flip: boolean): Buffer {
    return mapKey(this.model, imageSha, flip);
  }
}

function mapKey(model: string, imageSha: string, flip: boolean): Buffer {
  return createHash('sha256')
    .update(`${imageSha}|${flip ? 'mirrored' : 'original'}|${model}`)
    .digest();
}

/**
 * The maps of `file` whose key (hex) is in `keep`, by key; starts the file afresh when it is
 * missing or holds maps of another size, and truncates a record cut short.
 */
export async function readMapFile(
  file: string,
  size: number,
  keep: ReadonlySet<string>,
): Promise<Map<string, Uint16Array>> {
  const maps = new Map<string, Uint16Array>();
  const record = KEY_BYTES + size * 2;
  const header = MAGIC.length + 4;
  const length = await stat(file).then(
    (s) => s.size,
    () => -1,
  );
  const fresh = async () => {
    const h = Buffer.alloc(header);
    MAGIC.copy(h);
    h.writeUInt32LE(size, MAGIC.length);
    const handle = await open(file, 'w');
    await handle.write(h);
    await handle.close();
    return maps;
  };
  if (length < header) return fresh();
  const handle = await open(file, 'r+');
  try {
    const h = Buffer.alloc(header);
    await handle.read(h, 0, header, 0);
    if (!h.subarray(0, MAGIC.length).equals(MAGIC) || h.readUInt32LE(MAGIC.length) !== size) {
      await handle.close();
      return fresh();
    }
    const count = Math.floor((length - header) / record);
    const perRead = Math.max(1, Math.floor((64 << 20) / record));
    const buffer = Buffer.alloc(perRead * record);
    for (let r = 0; r < count; r += perRead) {
      const k = Math.min(perRead, count - r);
      await handle.read(buffer, 0, k * record, header + r * record);
      for (let i = 0; i < k; i++) {
        const at = i * record;
        const key = buffer.toString('hex', at, at + KEY_BYTES);
        if (!keep.has(key)) continue;
        const map = new Uint16Array(size);
        new Uint8Array(map.buffer).set(buffer.subarray(at + KEY_BYTES, at + record));
        maps.set(key, map);
      }
    }
    const whole = header + count * record;
    if (whole < length) await handle.truncate(whole);
  } finally {
    await handle.close().catch(() => {});
  }
  return maps;
}
