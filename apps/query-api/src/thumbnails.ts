/**
 * Face crops and photo previews, rendered with sharp from the indexed file and cached twice:
 * in memory (the most recent few thousand) and on disk under the cache folder, keyed by what
 * determines their pixels (face id = image content + face index + model; or image sha256), so
 * a cached entry never goes stale. Concurrent requests for one entry render it once.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InputError } from '@fever/errors';
import type { Box } from '@fever/schema';
import sharp from 'sharp';

export type DerivedKind = 'face' | 'preview';

/** A file path or encoded bytes. */
export type SharpInput = string | Buffer;

export interface Derived {
  bytes: Uint8Array;
  source: 'memory' | 'disk' | 'rendered';
}

/** Sizes offered, so the cache holds few variants per face. */
export const THUMBNAIL_SIZES = [64, 96, 128, 160, 192, 256, 384, 512] as const;
export const PREVIEW_SIZES = [320, 640, 960, 1280, 1600, 2048] as const;

export class DerivedImageCache {
  private readonly memory = new Map<string, Uint8Array>();
  private memoryBytes = 0;
  private readonly pending = new Map<string, Promise<Uint8Array>>();

  constructor(
    private readonly dir: string,
    private readonly maxMemoryBytes = 64 * 1024 * 1024,
  ) {}

  /**
   * A square JPEG of the face and some context around it, `size` pixels wide. `load` gives the
   * photo (a path or its bytes); it is only called when nothing is cached.
   */
  face(faceId: string, box: Box, size: number, load: () => Promise<SharpInput>): Promise<Derived> {
    return this.get(`face/${faceId.slice(0, 2)}/${faceId}-${size}.jpg`, async () =>
      undecodable(renderFace(await load(), box, size)),
    );
  }

  /** The photo as a JPEG (EXIF orientation applied), its longer side at most `size`. */
  preview(sha256: string, size: number, load: () => Promise<SharpInput>): Promise<Derived> {
    return this.get(`preview/${sha256.slice(0, 2)}/${sha256}-${size}.jpg`, async () =>
      undecodable(renderPreview(await load(), size)),
    );
  }

  private async get(key: string, render: () => Promise<Uint8Array>): Promise<Derived> {
    const hit = this.memory.get(key);
    if (hit) {
      // Refresh its place in the LRU order.
      this.memory.delete(key);
      this.memory.set(key, hit);
      return { bytes: hit, source: 'memory' };
    }
    const path = join(this.dir, key);
    try {
      const bytes = new Uint8Array(await readFile(path));
      this.remember(key, bytes);
      return { bytes, source: 'disk' };
    } catch {
      // not cached on disk yet
    }
    let job = this.pending.get(key);
    if (!job) {
      job = (async () => {
        const bytes = await render();
        await mkdir(dirname(path), { recursive: true });
        // Write then rename: a reader never sees half a file.
        const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
        await writeFile(tmp, bytes);
        await rename(tmp, path);
        this.remember(key, bytes);
        return bytes;
      })().finally(() => this.pending.delete(key));
      this.pending.set(key, job);
    }
    return { bytes: await job, source: 'rendered' };
  }

  private remember(key: string, bytes: Uint8Array): void {
    if (bytes.length > this.maxMemoryBytes / 8) return;
    this.memory.set(key, bytes);
    this.memoryBytes += bytes.length;
    for (const [k, v] of this.memory) {
      if (this.memoryBytes <= this.maxMemoryBytes) break;
      this.memory.delete(k);
      this.memoryBytes -= v.length;
    }
  }
}

/** Bytes that sharp cannot decode are bad input (422), not a server error. */
async function undecodable(rendering: Promise<Uint8Array>): Promise<Uint8Array> {
  try {
    return await rendering;
  } catch (err) {
    throw new InputError(
      'IMAGE_UNDECODABLE',
      `the indexed file cannot be decoded as an image: ${(err as Error).message}`,
      {
        status: 422,
      },
    );
  }
}

/** The face box grown by half its size around its centre, squared, clipped to the image. */
export function cropRegion(box: Box, width: number, height: number) {
  const side = Math.max(box.width, box.height) * 1.5;
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  const s = Math.max(1, Math.min(Math.round(side), width, height));
  const left = Math.min(Math.max(0, Math.round(cx - s / 2)), width - s);
  const top = Math.min(Math.max(0, Math.round(cy - s / 2)), height - s);
  return { left, top, width: s, height: s };
}

async function renderFace(file: SharpInput, box: Box, size: number): Promise<Uint8Array> {
  // Boxes are in the pixels of the decoded image, which has its EXIF orientation applied.
  const oriented = sharp(file, { failOn: 'none' }).rotate();
  const { data, info } = await oriented.raw().toBuffer({ resolveWithObject: true });
  const region = cropRegion(box, info.width, info.height);
  const out = await sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } })
    .extract(region)
    .resize(size, size, { fit: 'cover' })
    .jpeg({ quality: 82, mozjpeg: false })
    .toBuffer();
  return new Uint8Array(out);
}

async function renderPreview(file: SharpInput, size: number): Promise<Uint8Array> {
  const out = await sharp(file, { failOn: 'none' })
    .rotate()
    .resize(size, size, { fit: 'inside', withoutEnlargement: true })
    .jpeg({ quality: 82 })
    .toBuffer();
  return new Uint8Array(out);
}
