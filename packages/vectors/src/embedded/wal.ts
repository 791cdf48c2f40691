import type { FileHandle } from 'node:fs/promises';
import { open, readFile, truncate } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import type { PointPayload } from '../types.ts';

/**
 * Write-ahead log of one collection since its last snapshot. Each write batch is appended (and
 * fsynced when durable) before memory changes, so an acknowledged write survives a crash without
 * rewriting the whole HNSW file per batch; a snapshot folds the log in and starts an empty one.
 *
 * Record: magic u32 | body length u32 | crc32(body) u32 | body, little-endian. Body: JSON length
 * u32 | JSON | padding to 4 bytes | f32 vectors (upserts). A torn or corrupt tail (crash during
 * an append) fails its check; replay stops there and the tail is cut off.
 */

export type WalRecord =
  | { op: 'upsert'; slots: number[]; ids: string[]; payloads: PointPayload[]; vectors: Float32Array }
  | { op: 'delete'; slots: number[] };

const MAGIC = 0x31575646; // "FVW1"
const HEADER = 12;

export function encodeRecord(record: WalRecord): Buffer {
  const meta =
    record.op === 'upsert'
      ? { op: record.op, slots: record.slots, ids: record.ids, payloads: record.payloads }
      : { op: record.op, slots: record.slots };
  const json = Buffer.from(JSON.stringify(meta), 'utf8');
  const jsonEnd = 4 + json.length;
  const vecStart = (jsonEnd + 3) & ~3;
  const vecBytes = record.op === 'upsert' ? record.vectors.byteLength : 0;
  const body = Buffer.alloc(vecStart + vecBytes);
  body.writeUInt32LE(json.length, 0);
  json.copy(body, 4);
  if (record.op === 'upsert') {
    Buffer.from(record.vectors.buffer, record.vectors.byteOffset, vecBytes).copy(body, vecStart);
  }
  const header = Buffer.alloc(HEADER);
  header.writeUInt32LE(MAGIC, 0);
  header.writeUInt32LE(body.length, 4);
  header.writeUInt32LE(crc32(body), 8);
  return Buffer.concat([header, body]);
}

/**
 * Applies every intact record in order. Returns how many bytes were intact; a corrupt tail is
 * truncated so later appends follow the last good record.
 */
export async function replayWal(
  path: string,
  apply: (record: WalRecord) => void,
): Promise<{ records: number; bytes: number; truncatedBytes: number }> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { records: 0, bytes: 0, truncatedBytes: 0 };
    throw err;
  }
  let off = 0;
  let records = 0;
  while (off + HEADER <= buf.length) {
    if (buf.readUInt32LE(off) !== MAGIC) break;
    const len = buf.readUInt32LE(off + 4);
    const end = off + HEADER + len;
    if (end > buf.length) break;
    const body = buf.subarray(off + HEADER, end);
    if (crc32(body) !== buf.readUInt32LE(off + 8)) break;
    apply(decodeBody(body));
    records++;
    off = end;
  }
  if (off < buf.length) await truncate(path, off);
  return { records, bytes: off, truncatedBytes: buf.length - off };
}

function decodeBody(body: Buffer): WalRecord {
  const jsonLen = body.readUInt32LE(0);
  const meta = JSON.parse(body.subarray(4, 4 + jsonLen).toString('utf8')) as Omit<WalRecord, 'vectors'> & {
    ids?: string[];
    payloads?: PointPayload[];
  };
  if (meta.op === 'delete') return { op: 'delete', slots: meta.slots };
  const vecStart = (4 + jsonLen + 3) & ~3;
  // Copy out: the Buffer's offset need not be 4-byte aligned for a Float32Array view.
  const bytes = body.subarray(vecStart);
  const vectors = new Float32Array(bytes.length / 4);
  new Uint8Array(vectors.buffer).set(bytes);
  return { op: 'upsert', slots: meta.slots, ids: meta.ids ?? [], payloads: meta.payloads ?? [], vectors };
}

export class WalWriter {
  private constructor(
    private readonly fh: FileHandle,
    private size: number,
  ) {}

  static async open(path: string): Promise<WalWriter> {
    const fh = await open(path, 'a');
    const { size } = await fh.stat();
    return new WalWriter(fh, size);
  }

  get bytes(): number {
    return this.size;
  }

  /** `durable`: fdatasync before returning, so the write survives power loss, not just a crash. */
  async append(record: WalRecord, durable: boolean): Promise<void> {
    const buf = encodeRecord(record);
    try {
      let written = 0;
      while (written < buf.length) {
        const { bytesWritten } = await this.fh.write(buf, written, buf.length - written);
        written += bytesWritten;
      }
      if (durable) await this.fh.datasync();
    } catch (err) {
      // A half-written record would hide every later one from replay: cut it off.
      await this.fh.truncate(this.size).catch(() => undefined);
      throw err;
    }
    this.size += buf.length;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
