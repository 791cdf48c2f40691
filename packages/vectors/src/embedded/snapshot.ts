import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FeverError } from '@fever/errors';
import type { PointPayload } from '../types.ts';
import type { MemCollection } from './collection.ts';
import { fsyncDir, fsyncFile } from './fsutil.ts';

/**
 * A snapshot is one directory holding the whole collection state at one moment:
 *   index.usearch   the HNSW graph (usearch's own format)
 *   vectors.bin     the stored vectors, slot-major: f32 (f32 and i8 graphs) or f16 bits (f16)
 *   points.ndjson   a header line, then [slot, id, payload] per live point
 * It is written under a temporary name and only becomes current by an atomic rename of the
 * CURRENT pointer (see durable-collection.ts), so a crash never leaves a half snapshot in use.
 */

interface Header {
  version: 1;
  highWater: number;
  count: number;
  dims: number;
  dtype: string;
}

const CHUNK = 4 << 20;

/** Writes and fsyncs every file of the snapshot into `dir`; returns the bytes written. */
export async function writeSnapshot(dir: string, col: MemCollection): Promise<number> {
  await mkdir(dir, { recursive: true });
  const indexPath = join(dir, 'index.usearch');
  col.index.save(indexPath);
  await fsyncFile(indexPath);

  const slab = col.slabBytes();
  await writeChunks(join(dir, 'vectors.bin'), function* () {
    for (let off = 0; off < slab.length; off += CHUNK) yield slab.subarray(off, off + CHUNK);
  });

  const header: Header = {
    version: 1,
    highWater: col.highWater,
    count: col.size,
    dims: col.meta.dims,
    dtype: col.meta.dtype,
  };
  await writeChunks(join(dir, 'points.ndjson'), function* () {
    let text = `${JSON.stringify(header)}\n`;
    for (let s = 0; s < col.highWater; s++) {
      const id = col.idAt(s);
      if (id === undefined) continue;
      text += `${JSON.stringify([s, id, col.payloadAt(s)])}\n`;
      if (text.length >= CHUNK) {
        yield Buffer.from(text, 'utf8');
        text = '';
      }
    }
    if (text) yield Buffer.from(text, 'utf8');
  });
  await fsyncDir(dir);
  return snapshotBytes(dir);
}

/** Loads a snapshot into an empty collection, checking that its parts agree. */
export async function readSnapshot(dir: string, col: MemCollection): Promise<void> {
  const corrupt = (why: string) =>
    new FeverError('VECTORS_CORRUPT', `snapshot ${dir} of collection ${col.meta.name} is unusable: ${why}`);
  const points = await readFile(join(dir, 'points.ndjson'));
  let start = 0;
  let header: Header | undefined;
  let count = 0;
  while (start < points.length) {
    let end = points.indexOf(10, start);
    if (end < 0) end = points.length;
    if (end > start) {
      const value = JSON.parse(points.toString('utf8', start, end)) as
        | Header
        | [number, string, PointPayload];
      if (!header) header = value as Header;
      else {
        const [slot, id, payload] = value as [number, string, PointPayload];
        col.restorePoint(slot, id, payload);
        count++;
      }
    }
    start = end + 1;
  }
  if (header?.version !== 1) throw corrupt('missing or unknown points header');
  if (header.count !== count) throw corrupt(`header says ${header.count} points, found ${count}`);
  if (header.dims !== col.meta.dims || header.dtype !== col.meta.dtype) throw corrupt('dims/dtype differ');

  const slab = await readFile(join(dir, 'vectors.bin'));
  const values = header.highWater * col.meta.dims;
  // i8 collections kept f16 copies before they kept f32 ones: both are read.
  const bytesPer = slab.length === values * col.slabBytesPerValue ? col.slabBytesPerValue : 2;
  if (slab.length !== values * bytesPer || (bytesPer === 2 && col.meta.dtype === 'f32'))
    throw corrupt('vectors.bin has the wrong size');
  col.finishRestore(header.highWater, slab, bytesPer);

  // usearch (2.25) corrupts the heap loading a graph whose every node was removed; with no live
  // point the collection's fresh, empty graph is the same graph.
  if (count === 0) return;
  try {
    col.index.load(join(dir, 'index.usearch'));
  } catch (err) {
    throw new FeverError('VECTORS_CORRUPT', `cannot load ${join(dir, 'index.usearch')}`, { cause: err });
  }
  // usearch adopts the file's dimensions silently, so check them ourselves.
  if (col.index.dimensions() !== col.meta.dims) throw corrupt('index.usearch has other dimensions');
  if (col.index.size() !== count)
    throw corrupt(`index.usearch holds ${col.index.size()} vectors, expected ${count}`);
}

/** Bytes a snapshot occupies (drives when the next one is due). */
export async function snapshotBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of ['index.usearch', 'vectors.bin', 'points.ndjson'])
    total += (await stat(join(dir, name))).size;
  return total;
}

async function writeChunks(path: string, chunks: () => Iterable<Uint8Array>): Promise<void> {
  const fh = await open(path, 'w');
  try {
    for (const chunk of chunks()) {
      let written = 0;
      while (written < chunk.length) {
        written += (await fh.write(chunk, written, chunk.length - written)).bytesWritten;
      }
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}
