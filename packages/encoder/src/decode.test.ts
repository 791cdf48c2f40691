import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync } from 'node:zlib';
import { FeverError, InputError, TransientError } from '@fever/errors';
import sharp, { type Sharp } from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_PIXELS, decodeImage, ImageDecodeError, type RgbImage, readImageFile } from './decode.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../../..');
const demo = join(repoRoot, 'node_modules/@vladmandic/face-api/demo');
const samplePath = join(demo, 'sample1.jpg');

let dir: string;
/** sample1 at 320 px wide: the "original" every fixture below is made from. */
let original: { data: Buffer; width: number; height: number };
let originalPng: Buffer;

function fixture(name: string, bytes: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

function expectRgb(img: RgbImage, width: number, height: number): void {
  expect(img.width).toBe(width);
  expect(img.height).toBe(height);
  expect(img.data.length).toBe(width * height * 3);
  // A plain Uint8Array, so nothing downstream can lean on Buffer's methods.
  expect(Buffer.isBuffer(img.data)).toBe(false);
}

async function expectDecodeError(promise: Promise<unknown>, code: string, name: string) {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImageDecodeError);
  expect(err).toBeInstanceOf(InputError);
  expect((err as ImageDecodeError).code).toBe(code);
  expect((err as ImageDecodeError).message).toContain(name);
  expect((err as ImageDecodeError).file).toBe(name);
  return err as ImageDecodeError;
}

/** A PNG chunk with a correct CRC, so the header passes every check a decoder makes before allocating. */
function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fever-decode-'));
  // Lossless PNG of the resized sample: fixtures derived from it can be compared exactly.
  originalPng = await sharp(samplePath).resize(320).png().toBuffer();
  const { data, info } = await sharp(originalPng).raw().toBuffer({ resolveWithObject: true });
  original = { data, width: info.width, height: info.height };
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('decodeImage: real photos', () => {
  it('decodes every face-api demo photo from a path, matching sharp', async () => {
    for (let i = 1; i <= 6; i++) {
      const path = join(demo, `sample${i}.jpg`);
      const img = await decodeImage(path);
      const ref = await sharp(path).autoOrient().raw().toBuffer({ resolveWithObject: true });
      expectRgb(img, ref.info.width, ref.info.height);
      expect(Buffer.from(img.data).equals(ref.data)).toBe(true);
    }
  });

  it('decodes bytes exactly as it decodes the path', async () => {
    const fromPath = await decodeImage(samplePath);
    const fromBytes = await decodeImage(new Uint8Array(readFileSync(samplePath)));
    expectRgb(fromBytes, fromPath.width, fromPath.height);
    // Buffer.equals, not toEqual: vitest's deep equality takes a minute on 7 MB.
    expect(Buffer.from(fromBytes.data).equals(Buffer.from(fromPath.data))).toBe(true);
  });
});

describe('decodeImage: formats and pixel layouts become 8-bit RGB', () => {
  it('PNG round-trips exactly', async () => {
    const img = await decodeImage(fixture('plain.png', originalPng));
    expectRgb(img, original.width, original.height);
    expect(meanAbsDiff(img.data, original.data)).toBe(0);
  });

  it('CMYK JPEG is converted through a CMYK profile, close to the RGB it came from', async () => {
    const cmyk = await sharp(originalPng).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
    const meta = await sharp(cmyk).metadata();
    expect([meta.space, meta.channels]).toEqual(['cmyk', 4]);
    const img = await decodeImage(fixture('cmyk.jpg', cmyk));
    expectRgb(img, original.width, original.height);
    // Measured ~10.6: the CMYK gamut and JPEG are lossy. Reading C,M,Y as R,G,B gives ~82, and the naive
    // 255-(c+k) formula ~26, so this bound only passes with a colour-managed conversion.
    expect(meanAbsDiff(img.data, original.data)).toBeLessThan(15);
  });

  it('16-bit PNG becomes 8-bit with the same values', async () => {
    const rgb16 = await sharp(originalPng).toColourspace('rgb16').png().toBuffer();
    expect((await sharp(rgb16).metadata()).depth).toBe('ushort');
    const img = await decodeImage(fixture('rgb16.png', rgb16));
    expectRgb(img, original.width, original.height);
    expect(meanAbsDiff(img.data, original.data)).toBe(0);
  });

  it('greyscale PNG becomes three equal channels holding the grey value', async () => {
    const grey = await sharp(originalPng).toColourspace('b-w').png().toBuffer();
    expect((await sharp(grey).metadata()).channels).toBe(1);
    const greyValues = await sharp(grey).raw().extractChannel(0).toBuffer();
    const img = await decodeImage(fixture('grey.png', grey));
    expectRgb(img, original.width, original.height);
    for (let p = 0; p < img.width * img.height; p++) {
      const g = greyValues[p];
      if (img.data[p * 3] !== g || img.data[p * 3 + 1] !== g || img.data[p * 3 + 2] !== g) {
        throw new Error(`pixel ${p}: ${img.data.subarray(p * 3, p * 3 + 3).join(',')} vs grey ${g}`);
      }
    }
  });

  it('RGBA PNG drops alpha and keeps the stored RGB, even under fully transparent pixels', async () => {
    // Left half alpha 0, right half 128: flattening onto any colour would change both halves.
    const { width, height } = original;
    const rgba = Buffer.alloc(width * height * 4);
    for (let p = 0; p < width * height; p++) {
      original.data.copy(rgba, p * 4, p * 3, p * 3 + 3);
      rgba[p * 4 + 3] = p % width < width / 2 ? 0 : 128;
    }
    const png = await sharp(rgba, { raw: { width, height, channels: 4 } })
      .png()
      .toBuffer();
    expect((await sharp(png).metadata()).hasAlpha).toBe(true);
    const img = await decodeImage(fixture('rgba.png', png));
    expectRgb(img, width, height);
    expect(meanAbsDiff(img.data, original.data)).toBe(0);
  });

  it('animated GIF gives its first frame only', async () => {
    const first = await sharp(originalPng).png().toBuffer();
    const second = await sharp(originalPng).negate().png().toBuffer();
    const gif = await sharp([first, second], { join: { animated: true } })
      .gif()
      .toBuffer();
    expect((await sharp(gif).metadata()).pages).toBe(2);
    const img = await decodeImage(fixture('anim.gif', gif));
    expectRgb(img, original.width, original.height);
    const negated = await sharp(second).raw().toBuffer();
    // A 256-colour palette costs a little; the second frame is nowhere near.
    expect(meanAbsDiff(img.data, original.data)).toBeLessThan(10);
    expect(meanAbsDiff(img.data, negated)).toBeGreaterThan(50);
  });

  it('WebP (lossless exact, lossy close)', async () => {
    const lossless = await sharp(originalPng).webp({ lossless: true }).toBuffer();
    const a = await decodeImage(fixture('lossless.webp', lossless));
    expectRgb(a, original.width, original.height);
    expect(meanAbsDiff(a.data, original.data)).toBe(0);
    const lossy = await sharp(originalPng).webp({ quality: 90 }).toBuffer();
    const b = await decodeImage(fixture('lossy.webp', lossy));
    expectRgb(b, original.width, original.height);
    expect(meanAbsDiff(b.data, original.data)).toBeLessThan(4);
  });

  it('TIFF round-trips exactly', async () => {
    const tiff = await sharp(originalPng).tiff({ compression: 'lzw' }).toBuffer();
    const img = await decodeImage(fixture('plain.tiff', tiff));
    expectRgb(img, original.width, original.height);
    expect(meanAbsDiff(img.data, original.data)).toBe(0);
  });

  it('AVIF', async (ctx) => {
    let avif: Buffer;
    try {
      avif = await sharp(originalPng).avif({ quality: 80 }).toBuffer();
    } catch (err) {
      // Visible in the report: this sharp build cannot write AVIF, so there is no fixture to read.
      ctx.skip(`this sharp build has no AVIF encoder: ${(err as Error).message}`);
      return;
    }
    const img = await decodeImage(fixture('plain.avif', avif));
    expectRgb(img, original.width, original.height);
    expect(meanAbsDiff(img.data, original.data)).toBeLessThan(5);
  });

  // Each fixture stores the upright picture transformed the way the EXIF tag says to undo.
  const orientations: [number, (s: Sharp) => Sharp][] = [
    [2, (s) => s.flop()],
    [3, (s) => s.rotate(180)],
    [6, (s) => s.rotate(270)],
    [8, (s) => s.rotate(90)],
  ];
  for (const [orientation, store] of orientations) {
    it(`EXIF orientation ${orientation} is applied: dimensions and pixels match the upright photo`, async () => {
      const { width, height } = original;
      const jpeg = await store(sharp(original.data, { raw: { width, height, channels: 3 } }))
        .withMetadata({ orientation })
        .jpeg({ quality: 95 })
        .toBuffer();
      const meta = await sharp(jpeg).metadata();
      expect(meta.orientation).toBe(orientation);
      const img = await decodeImage(fixture(`orientation${orientation}.jpg`, jpeg));
      expectRgb(img, width, height);
      // JPEG at q95 costs ~1; a wrong orientation costs tens.
      expect(meanAbsDiff(img.data, original.data)).toBeLessThan(3);
    });
  }
});

describe('decodeImage: bad input gets a typed error naming the file', () => {
  it('truncated JPEG (a real photo cut in half) → IMAGE_TRUNCATED, not a half-grey image', async () => {
    const bytes = readFileSync(samplePath);
    const path = fixture('truncated.jpg', bytes.subarray(0, bytes.length >> 1));
    const err = await expectDecodeError(decodeImage(path), 'IMAGE_TRUNCATED', path);
    expect(err.status).toBe(400);
    expect(err.message).toMatch(/premature end/);
  });

  it('every supported format cut in half → IMAGE_TRUNCATED', async () => {
    const encoders: [string, (s: Sharp) => Sharp][] = [
      ['png', (s) => s.png()],
      ['webp', (s) => s.webp()],
      ['gif', (s) => s.gif()],
      ['tiff', (s) => s.tiff()],
      ['avif', (s) => s.avif()],
    ];
    for (const [ext, encode] of encoders) {
      const whole = await encode(sharp(originalPng)).toBuffer();
      const path = fixture(`half.${ext}`, whole.subarray(0, whole.length >> 1));
      await expectDecodeError(decodeImage(path), 'IMAGE_TRUNCATED', path);
    }
  });

  it('zero-byte file → IMAGE_EMPTY', async () => {
    const path = fixture('empty.jpg', '');
    await expectDecodeError(decodeImage(path), 'IMAGE_EMPTY', path);
  });

  it('zero bytes given as bytes → IMAGE_EMPTY, named by options.name or <bytes>', async () => {
    await expectDecodeError(
      decodeImage(new Uint8Array(0), { name: 'upload.jpg' }),
      'IMAGE_EMPTY',
      'upload.jpg',
    );
    await expectDecodeError(decodeImage(new Uint8Array(0)), 'IMAGE_EMPTY', '<bytes>');
  });

  it('text file named .jpg → IMAGE_UNSUPPORTED', async () => {
    const path = fixture('notes.jpg', 'this is a text file, not a photo\n');
    const err = await expectDecodeError(decodeImage(path), 'IMAGE_UNSUPPORTED', path);
    expect(err.status).toBe(415);
  });

  it('SVG (sharp could render it) → IMAGE_UNSUPPORTED: fever takes photos only', async () => {
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>';
    const path = fixture('drawing.png', svg);
    const err = await expectDecodeError(decodeImage(path), 'IMAGE_UNSUPPORTED', path);
    expect(err.message).toContain('svg');
  });

  it('PNG whose IHDR claims 50000×50000 → IMAGE_TOO_LARGE before any large allocation', async () => {
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(50_000, 0);
    ihdr.writeUInt32BE(50_000, 4);
    ihdr[8] = 8; // bit depth
    ihdr[9] = 2; // colour type RGB; compression, filter, interlace stay 0
    const bomb = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      pngChunk('IHDR', ihdr),
      pngChunk('IDAT', deflateSync(Buffer.alloc(1024))),
      pngChunk('IEND', Buffer.alloc(0)),
    ]);
    expect(bomb.length).toBeLessThan(200);
    const path = fixture('bomb.png', bomb);
    const rssBefore = process.memoryUsage().rss;
    const err = await expectDecodeError(decodeImage(path), 'IMAGE_TOO_LARGE', path);
    // Decoded it would be 7.5 GB of RGB; refusing from the header costs next to nothing.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 1024 * 1024);
    expect(err.message).toContain('50000×50000');
    expect(err.message).toContain(String(DEFAULT_MAX_PIXELS));
    expect(err.status).toBe(413);
  });

  it('maxPixels is honoured, inclusive', async () => {
    const path = fixture('limit.png', originalPng);
    const pixels = original.width * original.height;
    expectRgb(await decodeImage(path, { maxPixels: pixels }), original.width, original.height);
    const err = await expectDecodeError(
      decodeImage(path, { maxPixels: pixels - 1 }),
      'IMAGE_TOO_LARGE',
      path,
    );
    expect(err.message).toContain(String(pixels - 1));
    await expect(decodeImage(path, { maxPixels: 0 })).rejects.toThrow(RangeError);
  });

  it('missing path → IMAGE_NOT_FOUND (also under a missing directory)', async () => {
    for (const path of [join(dir, 'nope.jpg'), join(dir, 'no-such-dir', 'nope.jpg')]) {
      const err = await expectDecodeError(decodeImage(path), 'IMAGE_NOT_FOUND', path);
      expect(err.status).toBe(404);
    }
  });

  it('a directory → IMAGE_UNREADABLE', async () => {
    await expectDecodeError(decodeImage(dir), 'IMAGE_UNREADABLE', dir);
  });

  it.skipIf(process.platform === 'win32')(
    'a FIFO → IMAGE_UNREADABLE at once, without waiting for a writer',
    async () => {
      const path = join(dir, 'pipe.jpg');
      execFileSync('mkfifo', [path]);
      await expectDecodeError(decodeImage(path), 'IMAGE_UNREADABLE', path);
    },
  );

  it.skipIf(process.platform === 'win32' || process.getuid?.() === 0)(
    'a file without read permission → IMAGE_UNREADABLE (skipped as root, who can read anything)',
    async () => {
      const path = fixture('secret.jpg', readFileSync(samplePath));
      execFileSync('chmod', ['000', path]);
      await expectDecodeError(decodeImage(path), 'IMAGE_UNREADABLE', path);
    },
  );

  it.skipIf(process.platform === 'win32')(
    'out of file descriptors (EMFILE) → TransientError, not a verdict on the image',
    () => {
      // Needs its own process: the limit is lowered with ulimit and every descriptor is used up.
      const script = `
        import { openSync } from 'node:fs';
        import { decodeImage } from ${JSON.stringify(join(here, 'decode.ts'))};
        const held = [];
        try { for (;;) held.push(openSync('/dev/null', 'r')); } catch {}
        const outcome = await decodeImage(${JSON.stringify(samplePath)}).then(
          () => ({ ok: true }),
          (e) => ({ name: e.constructor.name, code: e.code, message: e.message }),
        );
        console.log(JSON.stringify(outcome));
        process.exit(0);`;
      const run = spawnSync(
        'bash',
        ['-c', 'ulimit -n 256 && exec node --import tsx --input-type=module -e "$0"', script],
        {
          cwd: repoRoot,
          encoding: 'utf8',
          timeout: 30_000,
        },
      );
      expect(run.stderr).toBe('');
      const outcome = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}');
      expect(outcome).toMatchObject({ name: 'TransientError', code: 'IMAGE_IO_TRANSIENT' });
      expect(outcome.message).toContain(samplePath);
    },
  );

  it('errors are FeverErrors the API can map, with the cause kept', async () => {
    const path = fixture('cause.jpg', 'not an image');
    const err = await expectDecodeError(decodeImage(path), 'IMAGE_UNSUPPORTED', path);
    expect(err).toBeInstanceOf(FeverError);
    expect(err).not.toBeInstanceOf(TransientError);
    expect(err.cause).toBeInstanceOf(Error);
  });
});

describe('readImageFile: the one reader of image files', () => {
  it('reads a file whole, and refuses one over maxBytes before reading it', async () => {
    const bytes = readFileSync(samplePath);
    expect(Buffer.from(await readImageFile(samplePath)).equals(bytes)).toBe(true);
    expect(Buffer.from(await readImageFile(samplePath, { maxBytes: bytes.length })).equals(bytes)).toBe(true);
    const err = await expectDecodeError(
      readImageFile(samplePath, { maxBytes: bytes.length - 1, name: 'photo.jpg' }),
      'IMAGE_TOO_LARGE',
      'photo.jpg',
    );
    expect(err.message).toContain(`${bytes.length} bytes, over the ${bytes.length - 1}-byte limit`);
  });

  it('opens through a given open(), whose own refusal passes through unchanged', async () => {
    const refusal = new InputError('LINK_OUTSIDE_SOURCE', 'not under the folder');
    await expect(
      readImageFile(samplePath, {
        open: () => {
          throw refusal;
        },
      }),
    ).rejects.toBe(refusal);
    const missing = join(dir, 'gone.jpg');
    await expectDecodeError(
      readImageFile(samplePath, { open: (p) => open(`${p}.nope`), name: missing }),
      'IMAGE_NOT_FOUND',
      missing,
    );
  });
});
