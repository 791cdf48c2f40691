/**
 * Where an indexed image's bytes are. The only way from a request to a file: the image id is
 * looked up in metadata, and the uri that fever stored when indexing is resolved here. No path
 * from a request ever reaches the filesystem.
 *
 * Stored uris are what the indexer wrote: an absolute path, a file:// URL, `<archive>!/<member>`
 * for an archive member (zip members are served; tar is sequential and is not), or a path
 * relative to the source folder of an index run of the image's collection.
 */
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Runtime } from '@fever/core';
import { NotFoundError } from '@fever/errors';
import type { Image } from '@fever/metadata';
import yauzl from 'yauzl';

export type ImageSource =
  | { kind: 'file'; path: string; size: number }
  | { kind: 'zip'; archive: string; member: string; size: number };

/** Archive members larger than this are not served (the indexer refuses larger ones too). */
const MAX_MEMBER_BYTES = 256 * 1024 * 1024;

export async function resolveImageSource(runtime: Runtime, image: Image): Promise<ImageSource> {
  const unavailable = (why: string) =>
    new NotFoundError('IMAGE_FILE_UNAVAILABLE', `the file of image ${image.id} cannot be served: ${why}`);
  const uri = image.uri;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri) && !uri.startsWith('file://')) {
    throw unavailable('it was indexed from a remote location, which the API does not fetch');
  }
  let path: string;
  try {
    path = uri.startsWith('file://') ? fileURLToPath(uri) : uri;
  } catch {
    throw unavailable('its file:// URI is malformed');
  }

  const member = path.indexOf('!/');
  if (member > 0) {
    const archive = path.slice(0, member);
    const name = path.slice(member + 2);
    if (!isAbsolute(archive)) throw unavailable(`its archive path '${archive}' is not absolute`);
    const head = await readHead(archive).catch(() => undefined);
    if (!head) throw unavailable('its archive is no longer where it was indexed');
    if (head[0] !== 0x50 || head[1] !== 0x4b) {
      throw unavailable(
        'it is a member of a tar archive, which can only be read from the start; extract it to serve it',
      );
    }
    const size = await zipMemberSize(archive, name);
    if (size === undefined) throw unavailable(`the archive no longer holds '${name}'`);
    if (size > MAX_MEMBER_BYTES) throw unavailable(`the archive member is over ${MAX_MEMBER_BYTES} bytes`);
    return { kind: 'zip', archive, member: name, size };
  }

  let candidates: string[];
  if (isAbsolute(path)) {
    candidates = [path];
  } else {
    // Relative to the source folder it was indexed from; index runs remember their sources.
    const runs = await runtime.metadata.indexRuns.list({ collectionId: image.collectionId, limit: 20 });
    const roots = [...new Set(runs.map((r) => r.source).filter((s): s is string => !!s && isAbsolute(s)))];
    candidates = roots.flatMap((root) => {
      const full = resolve(root, path);
      const rel = relative(root, full);
      // A stored uri is fever's own data, but never let one climb out of its root.
      return rel.startsWith('..') || isAbsolute(rel) ? [] : [full];
    });
  }
  for (const candidate of candidates) {
    const info = await stat(candidate).catch(() => undefined);
    if (info?.isFile()) return { kind: 'file', path: candidate, size: info.size };
  }
  throw unavailable('the file is no longer where it was indexed');
}

/** The bytes as a stream (the original file or the unzipped member). */
export async function streamImage(source: ImageSource): Promise<ReadableStream<Uint8Array>> {
  const node = source.kind === 'file' ? createReadStream(source.path) : await openZipMember(source);
  return Readable.toWeb(node) as ReadableStream<Uint8Array>;
}

/** What sharp reads: the path of a file, or the member's bytes. */
export async function imageInput(source: ImageSource): Promise<string | Buffer> {
  if (source.kind === 'file') return source.path;
  const chunks: Buffer[] = [];
  for await (const chunk of await openZipMember(source)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** MIME type from the first bytes (the formats fever decodes); undefined when unknown. */
export async function sniffImageType(source: ImageSource): Promise<string | undefined> {
  if (source.kind === 'file') return sniffBytes(await readHead(source.path));
  const stream = await openZipMember(source);
  try {
    for await (const chunk of stream) return sniffBytes(chunk as Buffer);
    return undefined;
  } finally {
    stream.destroy();
  }
}

export function sniffBytes(b: Uint8Array): string | undefined {
  const ascii = (from: number, to: number) => String.fromCharCode(...b.subarray(from, to));
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b[0] === 0x89 && ascii(1, 4) === 'PNG') return 'image/png';
  if (ascii(0, 4) === 'GIF8') return 'image/gif';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'image/webp';
  if (ascii(0, 4) === 'II*\u0000' || ascii(0, 4) === 'MM\u0000*') return 'image/tiff';
  if (ascii(4, 8) === 'ftyp') {
    const brand = ascii(8, 12);
    if (brand === 'avif' || brand === 'avis') return 'image/avif';
    if (brand.startsWith('hei') || brand === 'mif1') return 'image/heif';
  }
  return undefined;
}

async function readHead(path: string): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const head = new Uint8Array(16);
    await handle.read(head, 0, 16, 0);
    return head;
  } finally {
    await handle.close();
  }
}

function openZip(archive: string): Promise<yauzl.ZipFile> {
  return new Promise((resolvePromise, reject) =>
    yauzl.open(archive, { lazyEntries: true, autoClose: false }, (err, zip) =>
      err ? reject(err) : resolvePromise(zip),
    ),
  );
}

/** Finds a member by name; the callback gets it with the open zip (closed by the caller). */
async function findMember(
  archive: string,
  member: string,
): Promise<{ zip: yauzl.ZipFile; entry?: yauzl.Entry }> {
  const zip = await openZip(archive);
  return new Promise((resolvePromise, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      if (entry.fileName === member) resolvePromise({ zip, entry });
      else zip.readEntry();
    });
    zip.on('end', () => resolvePromise({ zip }));
    zip.on('error', reject);
    zip.readEntry();
  });
}

async function zipMemberSize(archive: string, member: string): Promise<number | undefined> {
  const { zip, entry } = await findMember(archive, member).catch(() => ({
    zip: undefined,
    entry: undefined,
  }));
  zip?.close();
  return entry?.uncompressedSize;
}

async function openZipMember(source: Extract<ImageSource, { kind: 'zip' }>): Promise<Readable> {
  const { zip, entry } = await findMember(source.archive, source.member);
  if (!entry) {
    zip.close();
    throw new NotFoundError('IMAGE_FILE_UNAVAILABLE', `the archive no longer holds '${source.member}'`);
  }
  const stream = await new Promise<Readable>((resolvePromise, reject) =>
    zip.openReadStream(entry, (err, s) => (err ? reject(err) : resolvePromise(s))),
  );
  stream.once('close', () => zip.close());
  stream.once('end', () => zip.close());
  return stream;
}
