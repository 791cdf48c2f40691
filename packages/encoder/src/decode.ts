/**
 * Image decoding: a file path or encoded bytes in, packed 8-bit RGB out, with every way an input can be
 * bad turned into an ImageDecodeError with a stable code and the file's name.
 *
 * Choices, and why:
 * - EXIF orientation is applied, so pixels are as a viewer shows them (faces upright for the detector).
 * - Alpha is dropped, not flattened: face-api's Node reference (tf.node.decodeImage(buf, 3), and the
 *   node-wasm demo that keeps RGBA channels 0..2) ignores alpha and keeps the stored RGB, so removeAlpha
 *   keeps us at parity with it. Transparent pixels keep whatever colour the file stores for them.
 * - Embedded ICC profiles are converted to sRGB (sharp's default) and CMYK goes through a CMYK profile
 *   (the embedded one, else sharp's built-in one), never a naive 255-(c+k) formula: the models were
 *   trained on sRGB photos.
 * - failOn 'error': aborts on truncated data and on decoder errors in every format (a truncated JPEG
 *   would otherwise decode "fine" with its missing part grey). 'warning' (sharp's default) is stricter
 *   than a photo archive can afford: it rejects JPEGs whose only fault is the common and harmless
 *   "extraneous bytes before marker". The price: a JPEG with a corrupt but complete entropy-coded segment
 *   is decoded the way libjpeg recovers it.
 * - Only JPEG, PNG, WebP, GIF, TIFF and AVIF are accepted, even though sharp also reads SVG (a renderer,
 *   not a photo) and HEIC (its prebuilt binaries have no HEVC decoder).
 */
import { constants, promises as fs } from 'node:fs';
import { FeverError, InputError, TransientError } from '@fever/errors';
import sharp, { type Metadata, type OutputInfo } from 'sharp';

/** Packed RGB, 3 channels, 8 bits each, row-major, no alpha: `data.length === width * height * 3`. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface DecodeOptions {
  /** Refuse images with more pixels than this (width × height, from the header, before decoding). */
  maxPixels?: number;
  /** How the input is named in error messages; defaults to the path, or `<bytes>` for bytes. */
  name?: string;
}

export type ImageDecodeErrorCode =
  | 'IMAGE_EMPTY'
  | 'IMAGE_UNSUPPORTED'
  | 'IMAGE_TRUNCATED'
  | 'IMAGE_TOO_LARGE'
  | 'IMAGE_NOT_FOUND'
  | 'IMAGE_UNREADABLE';

const STATUS: Record<ImageDecodeErrorCode, number> = {
  IMAGE_EMPTY: 400,
  IMAGE_UNSUPPORTED: 415,
  IMAGE_TRUNCATED: 400,
  IMAGE_TOO_LARGE: 413,
  IMAGE_NOT_FOUND: 404,
  IMAGE_UNREADABLE: 400,
};

/** An input that can never be decoded as given. `file` is the name the message uses. */
export class ImageDecodeError extends InputError {
  declare readonly code: ImageDecodeErrorCode;
  readonly file: string;

  constructor(code: ImageDecodeErrorCode, file: string, message: string, options?: { cause?: unknown }) {
    super(code, message, { status: STATUS[code], cause: options?.cause });
    this.file = file;
  }
}

/** 100 megapixels: above any camera photo fever is meant for; decoded RGB is then at most 300 MB. */
export const DEFAULT_MAX_PIXELS = 100_000_000;

const FAIL_ON = 'error' as const;

const FORMAT_NAMES = 'JPEG, PNG, WebP, GIF, TIFF, AVIF';
const ACCEPTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif']);

// Transient system limits: the file is fine, this process just could not read it now. These must not
// become an InputError, or a bulk run that hits the open-file limit would mark good images as broken.
// EIO too: on network file systems it is how a server hiccup shows.
const TRANSIENT_IO = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY', 'ENOMEM', 'ETIMEDOUT', 'EINTR', 'EIO']);

// libvips' operation cache only pays off when the same image is processed again; a server decodes each
// image once, so the cache would just hold memory (50 MB) and open files (20). Threads: sharp uses one
// libvips thread per core for each image, and the libuv pool (UV_THREADPOOL_SIZE, default 4) bounds how
// many images decode at once; both are left at their defaults.
sharp.cache(false);

/**
 * Decodes a path or encoded bytes to packed sRGB, oriented as EXIF says, first frame/page only.
 * Throws ImageDecodeError (codes above) for bad input; TransientError `IMAGE_IO_TRANSIENT` when the OS
 * refused a read for a reason a retry may fix (too many open files...).
 */
export async function decodeImage(
  input: string | Uint8Array,
  options: DecodeOptions = {},
): Promise<RgbImage> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!Number.isSafeInteger(maxPixels) || maxPixels < 1) {
    throw new RangeError(`maxPixels must be a positive integer, got ${maxPixels}`);
  }
  const name = options.name ?? (typeof input === 'string' ? input : '<bytes>');
  const encoded = typeof input === 'string' ? await readImageFile(input, { name }) : input;
  const bytes = Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  if (bytes.byteLength === 0) {
    throw new ImageDecodeError('IMAGE_EMPTY', name, `Image "${name}" is empty (0 bytes)`);
  }

  let meta: Metadata;
  try {
    // Header only. No pixel limit here so that we, not sharp, judge the size and can report it.
    meta = await sharp(bytes, { failOn: FAIL_ON, limitInputPixels: false }).metadata();
  } catch (err) {
    throw fromSharpError(err, name, bytes);
  }
  if (!ACCEPTED_FORMATS.has(meta.format)) {
    throw new ImageDecodeError(
      'IMAGE_UNSUPPORTED',
      name,
      `Image "${name}" is ${meta.format}, which fever does not decode (supported: ${FORMAT_NAMES})`,
    );
  }
  if (meta.format === 'heif' && meta.compression !== 'av1') {
    throw new ImageDecodeError(
      'IMAGE_UNSUPPORTED',
      name,
      `Image "${name}" is HEIF with ${meta.compression ?? 'unknown'} compression (HEIC); only AVIF is supported`,
    );
  }
  const { width, height } = meta;
  if (!(width > 0 && height > 0)) {
    throw new ImageDecodeError('IMAGE_TRUNCATED', name, `Image "${name}" has no valid dimensions`);
  }
  if (width * height > maxPixels) {
    throw tooLarge(name, `is ${width}×${height} (${width * height} pixels)`, maxPixels);
  }

  let out: { data: Buffer; info: OutputInfo };
  try {
    out = await sharp(bytes, { failOn: FAIL_ON, limitInputPixels: maxPixels, pages: 1 })
      .autoOrient()
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw fromSharpError(err, name, bytes);
  }
  const { data, info } = out;
  if (info.channels !== 3 || data.byteLength !== info.width * info.height * 3) {
    // A pipeline bug, not bad input: never hand the models a buffer of the wrong shape.
    throw new FeverError(
      'IMAGE_DECODE_INTERNAL',
      `Decoding "${name}" gave ${info.width}×${info.height}×${info.channels} in ${data.byteLength} bytes, expected packed RGB`,
    );
  }
  // A plain Uint8Array view (no copy), so callers never depend on Buffer's methods.
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    width: info.width,
    height: info.height,
  };
}

export interface ReadImageOptions {
  /** How the file is named in error messages; defaults to the path. */
  name?: string;
  /** Refuse a file larger than this many bytes (IMAGE_TOO_LARGE) before reading it. */
  maxBytes?: number;
  /** Opens the file (default: read-only, without waiting on a FIFO); may refuse it with a FeverError. */
  open?: (path: string) => Promise<fs.FileHandle>;
}

/**
 * The bytes of an image file, read whole, with the decoder's error codes for what can go wrong:
 * IMAGE_NOT_FOUND, IMAGE_UNREADABLE (not a regular file, no permission), IMAGE_TOO_LARGE;
 * TransientError IMAGE_IO_TRANSIENT when the OS refused the read for a reason a retry may fix.
 * Every reader of image files (decodeImage, the indexer) goes through here.
 */
export async function readImageFile(path: string, options: ReadImageOptions = {}): Promise<Uint8Array> {
  const name = options.name ?? path;
  let handle: fs.FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO would otherwise wait forever for a writer; regular files ignore it.
    handle = await (options.open ?? openReadOnly)(path);
  } catch (err) {
    if (err instanceof FeverError) throw err;
    throw ioError(err, name);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) {
      throw new ImageDecodeError('IMAGE_UNREADABLE', name, `Image "${name}" is not a regular file`);
    }
    if (options.maxBytes !== undefined && stat.size > options.maxBytes) {
      throw new ImageDecodeError(
        'IMAGE_TOO_LARGE',
        name,
        `Image "${name}" is ${stat.size} bytes, over the ${options.maxBytes}-byte limit`,
      );
    }
    // Read once into memory: header check and decode then see the very same bytes.
    const bytes = await handle.readFile();
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (err) {
    if (err instanceof FeverError) throw err;
    throw ioError(err, name);
  } finally {
    await handle.close();
  }
}

function openReadOnly(path: string): Promise<fs.FileHandle> {
  return fs.open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
}

function ioError(err: unknown, name: string): FeverError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const reason = err instanceof Error ? err.message : String(err);
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new ImageDecodeError('IMAGE_NOT_FOUND', name, `Image "${name}" not found`, { cause: err });
  }
  if (code !== undefined && TRANSIENT_IO.has(code)) {
    return new TransientError('IMAGE_IO_TRANSIENT', `Cannot read image "${name}" now (${reason})`, {
      cause: err,
    });
  }
  return new ImageDecodeError('IMAGE_UNREADABLE', name, `Cannot read image "${name}" (${reason})`, {
    cause: err,
  });
}

function tooLarge(name: string, what: string, maxPixels: number): ImageDecodeError {
  return new ImageDecodeError(
    'IMAGE_TOO_LARGE',
    name,
    `Image "${name}" ${what}, over the limit of ${maxPixels} pixels`,
  );
}

// sharp reports failures only as message text; these are the texts of sharp 0.35 / libvips 8.18.
function fromSharpError(err: unknown, name: string, bytes: Uint8Array): ImageDecodeError {
  const text = err instanceof Error ? err.message : String(err);
  const opts = { cause: err };
  if (/exceeds pixel limit/i.test(text)) {
    return new ImageDecodeError('IMAGE_TOO_LARGE', name, `Image "${name}" exceeds the pixel limit`, opts);
  }
  if (/buffer is empty/i.test(text)) {
    return new ImageDecodeError('IMAGE_EMPTY', name, `Image "${name}" is empty (0 bytes)`, opts);
  }
  if (/unsupported image format/i.test(text)) {
    // libvips sniffs some formats by parsing more than the magic bytes (a TIFF's first directory sits
    // at the end of the file), so a cut-off file of a known format also lands here: that is damage.
    const format = sniffFormat(bytes);
    if (format !== undefined) {
      return new ImageDecodeError(
        'IMAGE_TRUNCATED',
        name,
        `Image "${name}" looks like ${format} but cannot be parsed: truncated or corrupt`,
        opts,
      );
    }
    return new ImageDecodeError(
      'IMAGE_UNSUPPORTED',
      name,
      `Image "${name}" is not an image in a supported format (${FORMAT_NAMES})`,
      opts,
    );
  }
  return new ImageDecodeError(
    'IMAGE_TRUNCATED',
    name,
    `Image "${name}" is truncated or corrupt (${tidy(text)})`,
    opts,
  );
}

/** libvips repeats lines and logs seek noise (AVIF); keep a short, readable reason. */
function tidy(text: string): string {
  const lines = [
    ...new Set(
      text
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith('source: bad seek')),
    ),
  ];
  const joined = lines.join('; ');
  return joined.length > 200 ? `${joined.slice(0, 197)}...` : joined;
}

function sniffFormat(b: Uint8Array): string | undefined {
  const ascii = (from: number, to: number) => String.fromCharCode(...b.subarray(from, to));
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'JPEG';
  if (ascii(0, 8) === '\x89PNG\r\n\x1a\n') return 'PNG';
  if (ascii(0, 4) === 'GIF8') return 'GIF';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'WebP';
  const tiff = ascii(0, 4);
  if (tiff === 'II*\0' || tiff === 'MM\0*' || tiff === 'II+\0' || tiff === 'MM\0+') return 'TIFF';
  if (ascii(4, 8) === 'ftyp' && /^(avif|avis|heic|heix|mif1|msf1)$/.test(ascii(8, 12))) return 'AVIF/HEIF';
  return undefined;
}
