/**
 * Test support (imported as `@fever/core/testing`, never by production code): archives written
 * from memory and a corpus of broken image files with the error code each must produce.
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip, deflateRawSync, deflateSync } from 'node:zlib';
import * as tar from 'tar-stream';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface ArchiveMember {
  name: string;
  bytes: Uint8Array;
}

/** A zip file (deflated members, or stored ones with `store`), written the way zip tools do. */
export async function writeZip(
  path: string,
  members: readonly ArchiveMember[],
  options: { store?: boolean } = {},
) {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const m of members) {
    const name = Buffer.from(m.name, 'utf8');
    const data = options.store ? Buffer.from(m.bytes) : deflateRawSync(m.bytes);
    const method = options.store ? 0 : 8;
    const crc = crc32(m.bytes);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(m.bytes.length, 22);
    local.writeUInt16LE(name.length, 26);
    const head = Buffer.alloc(46);
    head.writeUInt32LE(0x02014b50, 0);
    head.writeUInt16LE(20, 4);
    head.writeUInt16LE(20, 6);
    head.writeUInt16LE(0x0800, 8);
    head.writeUInt16LE(method, 10);
    head.writeUInt32LE(crc, 16);
    head.writeUInt32LE(data.length, 20);
    head.writeUInt32LE(m.bytes.length, 24);
    head.writeUInt16LE(name.length, 28);
    head.writeUInt32LE(offset, 42);
    locals.push(local, name, data);
    central.push(head, name);
    offset += local.length + name.length + data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  await writeFile(path, Buffer.concat([...locals, cd, end]));
}

/** A .tar, or a .tar.gz with `gzip`. */
export async function writeTar(
  path: string,
  members: readonly ArchiveMember[],
  options: { gzip?: boolean } = {},
) {
  const pack = tar.pack();
  const done = options.gzip
    ? pipeline(pack, createGzip(), createWriteStream(path))
    : pipeline(pack, createWriteStream(path));
  for (const m of members) {
    await new Promise<void>((resolve, reject) =>
      pack.entry({ name: m.name, size: m.bytes.length }, Buffer.from(m.bytes), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  }
  pack.finalize();
  await done;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A PNG whose header claims width × height (a decompression bomb when large); no real pixels. */
export function pngHeader(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(0))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

export interface BrokenImage {
  name: string;
  bytes: Uint8Array;
  /** The error code indexing must record for it. */
  code: string;
}

/** Files with image names that are not usable images, each with the code fever must give it. */
export function brokenImages(goodJpeg: string): BrokenImage[] {
  const jpeg = readFileSync(goodJpeg);
  return [
    { name: 'empty.jpg', bytes: new Uint8Array(0), code: 'IMAGE_EMPTY' },
    {
      name: 'truncated.jpg',
      bytes: jpeg.subarray(0, Math.floor(jpeg.length * 0.4)),
      code: 'IMAGE_TRUNCATED',
    },
    {
      name: 'noise.jpg',
      bytes: Uint8Array.from({ length: 5000 }, (_, i) => (i * 7919 + 13) % 251),
      code: 'IMAGE_UNSUPPORTED',
    },
    { name: 'text.png', bytes: Buffer.from('this is not an image\n'.repeat(50)), code: 'IMAGE_UNSUPPORTED' },
    { name: 'bomb.png', bytes: pngHeader(100_000, 100_000), code: 'IMAGE_TOO_LARGE' },
    {
      name: 'drawing.png',
      bytes: Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="99" height="99"><rect width="9" height="9"/></svg>',
      ),
      code: 'IMAGE_UNSUPPORTED',
    },
    {
      name: 'no-frames.gif',
      bytes: Buffer.from('GIF89a\u0000\u0000\u0000\u0000\u0000\u0000\u0000;', 'latin1'),
      code: 'IMAGE_TRUNCATED',
    },
  ];
}

/**
 * Photos in which the same people appear more than once, for people and person-aware search:
 * each given photo as it is (`<n>.jpg`), scaled to 80% (`<n>-small.jpg`) and mirrored
 * (`<n>-mirror.jpg`). Each copy's faces are the original's: `sameFace` maps a copy's box back to
 * the original's box, so tests know the true person of every face.
 */
export async function writePeoplePhotos(
  dir: string,
  photos: readonly string[],
): Promise<{
  files: string[];
  copies: { file: string; of: string; sameFace: (box: Box, width: number) => Box }[];
}> {
  const { default: sharp } = await import('sharp');
  const files: string[] = [];
  const copies: { file: string; of: string; sameFace: (box: Box, width: number) => Box }[] = [];
  for (const [i, photo] of photos.entries()) {
    const original = join(dir, `${i}.jpg`);
    await writeFile(original, readFileSync(photo));
    const { width = 0 } = await sharp(photo).rotate().metadata();
    const small = join(dir, `${i}-small.jpg`);
    await sharp(photo)
      .rotate()
      .resize({ width: Math.round(width * 0.8) })
      .jpeg({ quality: 92 })
      .toFile(small);
    const mirror = join(dir, `${i}-mirror.jpg`);
    await sharp(photo).rotate().flop().jpeg({ quality: 92 }).toFile(mirror);
    files.push(original, small, mirror);
    // An original box, carried into the 80% copy.
    const scale = Math.round(width * 0.8) / width;
    copies.push(
      {
        file: small,
        of: original,
        sameFace: (b) => ({
          x: b.x * scale,
          y: b.y * scale,
          width: b.width * scale,
          height: b.height * scale,
        }),
      },
      {
        file: mirror,
        of: original,
        sameFace: (b, w) => ({ x: w - b.x - b.width, y: b.y, width: b.width, height: b.height }),
      },
    );
  }
  return { files, copies };
}

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}
