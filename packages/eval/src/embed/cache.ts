import { createHash } from 'node:crypto';
import { appendFile, mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FractionBox } from '../fec/types.ts';

export type EmbeddingOutput = 'embedding' | 'probs';
export const EMBEDDING_OUTPUTS: readonly EmbeddingOutput[] = ['embedding', 'probs'];

/** What a cached vector depends on besides the pixels: the model (id, version, file hash) and the output. */
export interface CacheIdentity {
  modelId: string;
  modelVersion: string;
  modelSha256: string;
  output: EmbeddingOutput;
}

const MAGIC = Buffer.from('FEVEMB01');
const KEY_BYTES = 32;
// A record: 32-byte key, uint32 LE dims, dims float32 LE.
const HEADER_BYTES = KEY_BYTES + 4;
const MAX_DIMS = 1 << 20;

/**
 * Embeddings on disk, keyed by (image sha256, box, model id@version + file sha256, output), so a
 * second run over the same images embeds nothing. One append-only file per model and output:
 * loading is one read, writing is one append per batch (a single write, so concurrent appenders
 * do not interleave records), and a record cut short by a crash is dropped and truncated away.
 * A `null` directory keeps nothing and misses every time.
 */
export class EmbeddingCache {
  hits = 0;
  misses = 0;
  private pending: Buffer[] = [];

  private constructor(
    private readonly file: string | null,
    private readonly identity: CacheIdentity,
    private readonly vectors: Map<string, Float32Array>,
  ) {}

  static async open(dir: string | null, identity: CacheIdentity): Promise<EmbeddingCache> {
    if (dir === null) return new EmbeddingCache(null, identity, new Map());
    const safe = (s: string) => s.replace(/[^A-Za-z0-9._+@-]/g, '_');
    const folder = join(
      dir,
      `${safe(identity.modelId)}@${safe(identity.modelVersion)}-${identity.modelSha256.slice(0, 12)}`,
    );
    const file = join(folder, `${identity.output}.bin`);
    await mkdir(folder, { recursive: true });
    return new EmbeddingCache(file, identity, await load(file));
  }

  get size(): number {
    return this.vectors.size;
  }

  /** The cached vector, counting a hit or a miss. */
  get(imageSha256: string, box: FractionBox): Float32Array | undefined {
    const vector = this.vectors.get(this.key(imageSha256, box).toString('hex'));
    if (vector) this.hits++;
    else this.misses++;
    return vector;
  }

  set(imageSha256: string, box: FractionBox, vector: Float32Array): void {
    const key = this.key(imageSha256, box);
    const copy = Float32Array.from(vector);
    this.vectors.set(key.toString('hex'), copy);
    if (!this.file) return;
    const record = Buffer.alloc(HEADER_BYTES + copy.length * 4);
    key.copy(record, 0);
    record.writeUInt32LE(copy.length, KEY_BYTES);
    // Float32Arrays are little-endian on every platform Node runs on: copy the bytes as they are.
    record.set(new Uint8Array(copy.buffer), HEADER_BYTES);
    this.pending.push(record);
  }

  /** Appends what was set since the last flush. */
  async flush(): Promise<void> {
    if (!this.file || this.pending.length === 0) return;
    const data = Buffer.concat(this.pending);
    this.pending = [];
    await appendFile(this.file, data);
  }

  private key(imageSha256: string, box: FractionBox): Buffer {
    const { modelId, modelVersion, modelSha256, output } = this.identity;
    const boxText = `${box.left},${box.right},${box.top},${box.bottom}`;
    return createHash('sha256')
      .update(`${imageSha256}|${boxText}|${modelId}@${modelVersion}|${modelSha256}|${output}`)
      .digest();
  }
}

async function load(file: string): Promise<Map<string, Float32Array>> {
  const vectors = new Map<string, Float32Array>();
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch {
    await appendFile(file, MAGIC);
    return vectors;
  }
  if (data.length < MAGIC.length || !data.subarray(0, MAGIC.length).equals(MAGIC)) {
    // Not a cache file of this format: it is derived data, so start it again.
    await truncateTo(file, 0);
    await appendFile(file, MAGIC);
    return vectors;
  }
  let offset = MAGIC.length;
  while (offset + HEADER_BYTES <= data.length) {
    const dims = data.readUInt32LE(offset + KEY_BYTES);
    const end = offset + HEADER_BYTES + dims * 4;
    if (dims === 0 || dims > MAX_DIMS || end > data.length) break;
    const vector = new Float32Array(dims);
    new Uint8Array(vector.buffer).set(data.subarray(offset + HEADER_BYTES, end));
    vectors.set(data.toString('hex', offset, offset + KEY_BYTES), vector);
    offset = end;
  }
  if (offset < data.length) await truncateTo(file, offset);
  return vectors;
}

async function truncateTo(file: string, length: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    await handle.truncate(length);
  } finally {
    await handle.close();
  }
}
