/**
 * Sources an index run reads: a directory tree, a .zip, a .tar or .tar.gz archive, a text file
 * with one path per line, or a single image. Every walker is a stream (an async generator): a
 * directory is read with fs.opendir one directory at a time, archives are read entry by entry,
 * a list line by line, so a source of millions of files is never listed into memory.
 *
 * Entry uris (the ledger key, and images.uri): the absolute path of a file, or
 * `<absolute archive path>!/<member name>` for an archive member.
 */
import { createReadStream } from 'node:fs';
import { type FileHandle, open, opendir, stat } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { InputError, NotFoundError } from '@fever/errors';
import { confine } from '@fever/files';
import * as tar from 'tar-stream';
import type yauzl from 'yauzl';
import { memberUri } from './archive-uri.ts';
import { memberName, nextEntry, openMemberStream, openZip, unsafeMemberName } from './zip.ts';

export type SourceKind = 'directory' | 'zip' | 'tar' | 'tar.gz' | 'list' | 'file';

export interface SourceInfo {
  kind: SourceKind;
  /** Absolute path of the source. */
  path: string;
}

/** One thing to index. Files are read by path later; archive members carry their bytes. */
export interface SourceEntry {
  uri: string;
  /** A file on disk (directory, list and single-file sources). */
  path?: string;
  /** The member's bytes (archive sources). */
  bytes?: Uint8Array;
  /** Why the entry cannot be read (a corrupt or oversized archive member). */
  error?: { code: string; message: string };
}

/** File name extensions taken from directories and archives (list files are taken as they are). */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set([
  '.jpg',
  '.jpeg',
  '.jpe',
  '.jfif',
  '.png',
  '.webp',
  '.gif',
  '.tif',
  '.tiff',
  '.avif',
]);

/** Archive members larger than this are recorded as failures rather than read into memory. */
export const MAX_ENTRY_BYTES = 256 * 1024 * 1024;

export function isImageName(name: string): boolean {
  const base = name.slice(name.lastIndexOf('/') + 1);
  // Dot files include macOS's AppleDouble "._photo.jpg" companions, which are not images.
  return !base.startsWith('.') && IMAGE_EXTENSIONS.has(extname(base).toLowerCase());
}

/** What kind of source `source` is, by looking at it (not by trusting its name). */
export async function describeSource(source: string): Promise<SourceInfo> {
  const path = resolve(source);
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new NotFoundError('SOURCE_NOT_FOUND', `source ${path} does not exist`);
    }
    throw new InputError('SOURCE_UNREADABLE', `cannot read source ${path}: ${(err as Error).message}`);
  }
  if (info.isDirectory()) return { kind: 'directory', path };
  if (!info.isFile()) throw new InputError('SOURCE_UNSUPPORTED', `source ${path} is not a file or directory`);
  const head = await readHead(path, 512);
  const kind = sniff(head, path);
  if (!kind) {
    throw new InputError(
      'SOURCE_UNSUPPORTED',
      `source ${path} is not a directory, a .zip, .tar or .tar.gz archive, an image or a text file of paths`,
    );
  }
  return { kind, path };
}

function sniff(head: Buffer, path: string): SourceKind | undefined {
  const ascii = (offset: number, text: string) =>
    head.subarray(offset, offset + text.length).toString('latin1') === text;
  if (ascii(0, 'PK\u0003\u0004') || ascii(0, 'PK\u0005\u0006')) return 'zip';
  if (head[0] === 0x1f && head[1] === 0x8b) return 'tar.gz';
  if (ascii(257, 'ustar')) return 'tar';
  const image =
    (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) ||
    ascii(0, '\u0089PNG') ||
    ascii(0, 'GIF8') ||
    (ascii(0, 'RIFF') && ascii(8, 'WEBP')) ||
    ascii(0, 'II*\u0000') ||
    ascii(0, 'MM\u0000*') ||
    ascii(4, 'ftypavif');
  if (image) return 'file';
  // An old-style tar without the ustar magic: trust the name.
  if (/\.tar$/i.test(path) && head.length >= 512) return 'tar';
  if (!head.includes(0)) return 'list';
  return undefined;
}

async function readHead(path: string, n: number): Promise<Buffer> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, 'r');
    const buffer = Buffer.alloc(n);
    const { bytesRead } = await handle.read(buffer, 0, n, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle?.close();
  }
}

/**
 * The entries of a source, streamed. Stops early (without error) when `signal` aborts. With
 * `within` (real paths), a link in a directory is followed only to a file under one of them.
 */
export function walkSource(
  source: SourceInfo,
  signal?: AbortSignal,
  within?: readonly string[],
): AsyncGenerator<SourceEntry> {
  switch (source.kind) {
    case 'directory':
      return walkDirectory(source.path, signal, within);
    case 'zip':
      return walkZip(source.path, signal);
    case 'tar':
      return walkTar(source.path, false, signal);
    case 'tar.gz':
      return walkTar(source.path, true, signal);
    case 'list':
      return walkList(source.path, signal);
    case 'file':
      return (async function* () {
        yield { uri: source.path, path: source.path };
      })();
  }
}

/** True for sources whose entries carry their bytes (they cannot be re-read by uri). */
export function isArchive(kind: SourceKind): boolean {
  return kind === 'zip' || kind === 'tar' || kind === 'tar.gz';
}

/**
 * Depth-first, one open directory at a time; subdirectories wait on a stack of paths. Symbolic
 * links to files are followed (with `within`, only to a file under it: one that leads elsewhere
 * is a failed entry, LINK_OUTSIDE_SOURCE, its target never read), links to directories are not
 * (no cycles). Hidden entries (".x") are skipped.
 */
async function* walkDirectory(
  root: string,
  signal?: AbortSignal,
  within?: readonly string[],
): AsyncGenerator<SourceEntry> {
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let handle: Awaited<ReturnType<typeof opendir>>;
    try {
      handle = await opendir(dir, { bufferSize: 128 });
    } catch (err) {
      if (dir === root) throw err;
      // An unreadable subdirectory is a failure of its own, not the end of the run.
      yield {
        uri: dir,
        error: {
          code: 'DIRECTORY_UNREADABLE',
          message: `cannot read directory ${dir}: ${(err as Error).message}`,
        },
      };
      continue;
    }
    // Leaving the loop early (abort) closes the handle.
    for await (const dirent of handle) {
      if (signal?.aborted) return;
      if (dirent.name.startsWith('.')) continue;
      const full = join(dir, dirent.name);
      if (dirent.isDirectory()) {
        stack.push(full);
      } else if (dirent.isFile()) {
        if (isImageName(dirent.name)) yield { uri: full, path: full };
      } else if (dirent.isSymbolicLink() && isImageName(dirent.name)) {
        const target = within ? await confine(full, within) : { ok: true as const, real: full };
        if (!target.ok && target.reason === 'outside') yield linkOutside(full, within!);
        else if (target.ok && (await stat(target.real).catch(() => undefined))?.isFile()) {
          yield { uri: full, path: full };
        }
      }
    }
  }
}

/** One path per line; blank lines and lines starting with # are ignored; relative to the list's folder. */
async function* walkList(path: string, signal?: AbortSignal): AsyncGenerator<SourceEntry> {
  const base = dirname(path);
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      if (signal?.aborted) return;
      const text = line.trim();
      if (text === '' || text.startsWith('#')) continue;
      const file = resolve(base, text);
      yield { uri: file, path: file };
    }
  } finally {
    lines.close();
  }
}

async function* walkZip(path: string, signal?: AbortSignal): AsyncGenerator<SourceEntry> {
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(path);
  } catch (err) {
    yield archiveCorrupt(path, err);
    return;
  }
  try {
    for (;;) {
      if (signal?.aborted) return;
      let entry: yauzl.Entry | null;
      try {
        entry = await nextEntry(zip);
      } catch (err) {
        yield archiveCorrupt(path, err);
        return;
      }
      if (!entry) return;
      const name = memberName(entry);
      if (name.endsWith('/') || name.startsWith('__MACOSX/') || !isImageName(name)) continue;
      const uri = memberUri(path, name);
      const unsafe = unsafeName(uri, name);
      if (unsafe) {
        yield unsafe;
        continue;
      }
      if (entry.uncompressedSize > MAX_ENTRY_BYTES) {
        yield tooLarge(uri, entry.uncompressedSize);
        continue;
      }
      try {
        yield { uri, bytes: await collect(await openMemberStream(zip, entry), MAX_ENTRY_BYTES) };
      } catch (err) {
        yield {
          uri,
          error: {
            code: 'ARCHIVE_ENTRY_CORRUPT',
            message: `cannot read ${name} from ${path}: ${(err as Error).message}`,
          },
        };
      }
    }
  } finally {
    zip.close();
  }
}

async function* walkTar(path: string, gzip: boolean, signal?: AbortSignal): AsyncGenerator<SourceEntry> {
  const extract = tar.extract();
  const input = createReadStream(path);
  const piping = (gzip ? pipeline(input, createGunzip(), extract) : pipeline(input, extract)).catch(
    (err: unknown) => err,
  );
  try {
    for await (const entry of extract) {
      if (signal?.aborted) return;
      const { name, type, size } = entry.header;
      if ((type !== 'file' && type !== 'contiguous-file') || !isImageName(name)) {
        entry.resume();
        continue;
      }
      const uri = memberUri(path, name);
      const unsafe = unsafeName(uri, name);
      if (unsafe) {
        entry.resume();
        yield unsafe;
        continue;
      }
      if ((size ?? 0) > MAX_ENTRY_BYTES) {
        entry.resume();
        yield tooLarge(uri, size ?? 0);
        continue;
      }
      yield { uri, bytes: await collect(entry, MAX_ENTRY_BYTES) };
    }
  } catch (err) {
    yield archiveCorrupt(path, err);
    return;
  } finally {
    if (!input.destroyed) input.destroy();
  }
  const failed = await piping;
  if (failed) yield archiveCorrupt(path, failed);
}

async function collect(
  stream: AsyncIterable<unknown> & { destroy(): unknown },
  limit: number,
): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      stream.destroy();
      throw new Error(`member is larger than ${limit} bytes`);
    }
    parts.push(chunk as Buffer);
  }
  const bytes = Buffer.concat(parts, total);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A damaged archive becomes one failed entry (uri `<archive>!`) after the members read so far. */
function archiveCorrupt(path: string, err: unknown): SourceEntry {
  return {
    uri: `${path}!`,
    error: {
      code: 'ARCHIVE_CORRUPT',
      message: `archive ${path} is damaged or truncated; members after this point were not read: ${(err as Error).message}`,
    },
  };
}

/** What a link that leads out of the folders a run may read becomes (its target is never read). */
export function linkOutside(path: string, within: readonly string[]): SourceEntry {
  return {
    uri: path,
    error: {
      code: 'LINK_OUTSIDE_SOURCE',
      message: `${path} is not indexed: it is a link that leads out of the folders this run may read (${within.join(', ')})`,
    },
  };
}

/**
 * A member whose name is absolute or climbs out with `..` fails alone (the other members are
 * indexed): fever never extracts members, but such a name is a sign of a hostile archive.
 */
function unsafeName(uri: string, name: string): SourceEntry | undefined {
  const why = unsafeMemberName(name);
  return why === undefined
    ? undefined
    : {
        uri,
        error: {
          code: 'ARCHIVE_MEMBER_UNSAFE',
          message: `${uri} is not indexed: its name is unsafe (${why})`,
        },
      };
}

function tooLarge(uri: string, size: number): SourceEntry {
  return {
    uri,
    error: {
      code: 'IMAGE_TOO_LARGE',
      message: `${uri} is ${size} bytes, over the ${MAX_ENTRY_BYTES}-byte limit`,
    },
  };
}
