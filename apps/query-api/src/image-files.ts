/**
 * Where an indexed image's bytes are, and reading them back. The only way from a request to a
 * file: the image id is looked up in metadata, and the uri that fever stored when indexing is
 * resolved here. No path from a request ever reaches the filesystem.
 *
 * What is served is what was indexed, nothing else:
 *   - with FEVER_INDEX_ROOTS set, the file must really lie (links resolved) under them, and is
 *     opened without following a link swapped in meanwhile (without roots, the API serves what
 *     the CLI indexed, wherever that was);
 *   - its bytes must hash to the sha256 stored at indexing, checked before a byte is sent
 *     (409 IMAGE_FILE_CHANGED otherwise).
 *
 * Stored uris are what the indexer wrote: an absolute path, a file:// URL, `<archive>!/<member>`
 * for an archive member (zip members are served; tar is sequential and is not), or a path
 * relative to the source folder of an index run of the image's collection.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { memberName, nextEntry, openMemberStream, openZip, type Runtime, splitMemberUri } from '@fever/core';
import { sha256Bytes } from '@fever/encoder';
import { FeverError, NotFoundError } from '@fever/errors';
import { isWithin, type OpenedWithin, openWithin, realPathOf, realRoots } from '@fever/files';
import type { Image } from '@fever/metadata';

type ImageSource = { kind: 'file'; path: string } | { kind: 'zip'; archive: string; member: string };

/** Archive members larger than this are not served (the indexer refuses larger ones too). */
const MAX_MEMBER_BYTES = 256 * 1024 * 1024;

/** An indexed image whose bytes were checked against its sha256, ready to send. */
export interface VerifiedImage {
  size: number;
  /** MIME type from the first bytes; undefined when unknown. */
  type: string | undefined;
  /** The bytes; a file changed in place while it is sent aborts the stream. */
  body(): ReadableStream<Uint8Array>;
}

/** The image's original bytes, to send as they are (404/409 when they cannot be). */
export async function openImage(runtime: Runtime, image: Image, indexRoots: readonly string[]) {
  const { source, roots } = await locate(runtime, image, indexRoots);
  if (source.kind === 'zip') {
    const bytes = await readMember(image, source, roots);
    return {
      size: bytes.length,
      type: sniffBytes(bytes),
      body: () => Readable.toWeb(Readable.from([bytes])) as ReadableStream<Uint8Array>,
    } satisfies VerifiedImage;
  }
  const { handle, stats } = await openFile(image, source.path, roots);
  try {
    // First pass: the whole file must hash to the stored sha256 before a byte is sent.
    const hash = createHash('sha256');
    let head: Uint8Array | undefined;
    for await (const chunk of handle.createReadStream({ start: 0, autoClose: false })) {
      head ??= new Uint8Array(chunk as Buffer).slice(0, 16);
      hash.update(chunk as Buffer);
    }
    checkHash(image, hash.digest('hex'));
    return {
      size: stats.size,
      type: head ? sniffBytes(head) : undefined,
      body: () => {
        // Second pass, from the same open file: hashed again, so a change in place is cut off.
        const again = createHash('sha256');
        const verify = new Transform({
          transform(chunk: Buffer, _enc, done) {
            again.update(chunk);
            done(null, chunk);
          },
          flush(done) {
            done(again.digest('hex') === image.sha256 ? null : changed(image, 'it changed while being sent'));
          },
        });
        const stream = handle.createReadStream({ start: 0 });
        stream.on('error', (err) => verify.destroy(err));
        return Readable.toWeb(stream.pipe(verify)) as ReadableStream<Uint8Array>;
      },
    } satisfies VerifiedImage;
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** The image's original bytes in memory, checked against its sha256 (for sharp). */
export async function readImage(
  runtime: Runtime,
  image: Image,
  indexRoots: readonly string[],
): Promise<Buffer> {
  const { source, roots } = await locate(runtime, image, indexRoots);
  if (source.kind === 'zip') return readMember(image, source, roots);
  const { handle } = await openFile(image, source.path, roots);
  try {
    const bytes = await handle.readFile();
    checkHash(image, sha256Bytes(bytes));
    return bytes;
  } finally {
    await handle.close();
  }
}

function sniffBytes(b: Uint8Array): string | undefined {
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

function unavailable(image: Image, why: string): NotFoundError {
  return new NotFoundError(
    'IMAGE_FILE_UNAVAILABLE',
    `the file of image ${image.id} cannot be served: ${why}`,
  );
}

function changed(image: Image, why: string): FeverError {
  return new FeverError(
    'IMAGE_FILE_CHANGED',
    `the file of image ${image.id} is not served: ${why}; re-index its collection to pick up what is there now`,
    { status: 409 },
  );
}

function checkHash(image: Image, sha256: string): void {
  if (sha256 !== image.sha256) {
    throw changed(image, 'its bytes no longer match the sha256 recorded when it was indexed');
  }
}

/** Where the uri points, and the real paths it must lie under. */
async function locate(
  runtime: Runtime,
  image: Image,
  indexRoots: readonly string[],
): Promise<{ source: ImageSource; roots: string[] | undefined }> {
  const uri = image.uri;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri) && !uri.startsWith('file://')) {
    throw unavailable(image, 'it was indexed from a remote location, which the API does not fetch');
  }
  let path: string;
  try {
    path = uri.startsWith('file://') ? fileURLToPath(uri) : uri;
  } catch {
    throw unavailable(image, 'its file:// URI is malformed');
  }
  const roots = indexRoots.length > 0 ? await realRoots(indexRoots) : undefined;
  const relative = !isAbsolute(path);

  // Archive members are stored with the archive's absolute path.
  const member = relative ? undefined : await splitMemberUri(path);
  if (member) return { source: { kind: 'zip', ...member }, roots };
  if (!relative) return { source: { kind: 'file', path }, roots };
  // Relative to the source folder it was indexed from; index runs remember their sources.
  const runs = await runtime.metadata.indexRuns.list({ collectionId: image.collectionId, limit: 20 });
  const sources = new Set(runs.map((r) => r.source).filter((s): s is string => !!s && isAbsolute(s)));
  for (const source of sources) {
    const full = resolve(source, path);
    // A stored uri is fever's own data, but never let one climb out of its source.
    if (isWithin(full, source)) return { source: { kind: 'file', path: full }, roots };
  }
  throw unavailable(image, 'the file is no longer where it was indexed');
}

/** Opens the file for reading: under `roots` (real paths) only, when there are roots. */
async function openFile(image: Image, path: string, roots: readonly string[] | undefined) {
  // Whether it exists is asked first: the path is fever's own record, not a request's.
  if (!(await exists(path))) throw unavailable(image, 'the file is no longer where it was indexed');
  if (!roots) {
    const handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
    const stats = await handle.stat();
    if (stats.isFile()) return { handle, stats };
    await handle.close();
    throw refusal(image, 'not-a-file');
  }
  const opened = await openWithin(path, roots);
  if (!opened.ok) throw refusal(image, opened.reason);
  return opened;
}

function refusal(image: Image, reason: Exclude<OpenedWithin, { ok: true }>['reason']): FeverError {
  switch (reason) {
    case 'missing':
      return unavailable(image, 'the file is no longer where it was indexed');
    case 'not-a-file':
      return changed(image, 'its path no longer names a regular file');
    case 'changed':
      return changed(image, 'its path changed while it was opened');
    case 'outside':
      return changed(image, 'its path now leads (through a link) out of the folders this server may read');
  }
}

async function exists(path: string): Promise<boolean> {
  return (await lstat(await realPathOf(path)).catch(() => undefined)) !== undefined;
}

async function readMember(
  image: Image,
  source: Extract<ImageSource, { kind: 'zip' }>,
  roots: readonly string[] | undefined,
): Promise<Buffer> {
  if (!(await exists(source.archive)))
    throw unavailable(image, 'its archive is no longer where it was indexed');
  const { handle } = await openFile(image, source.archive, roots);
  try {
    const head = new Uint8Array(2);
    await handle.read(head, 0, 2, 0);
    if (head[0] !== 0x50 || head[1] !== 0x4b) {
      throw unavailable(
        image,
        'it is a member of a tar archive, which can only be read from the start; extract it to serve it',
      );
    }
    // Read through the descriptor opened within the roots. The zip is never closed: that would
    // close the descriptor, which the handle owns.
    const zip = await openZip(handle.fd);
    for (let entry = await nextEntry(zip); entry; entry = await nextEntry(zip)) {
      if (memberName(entry) !== source.member) continue;
      if (entry.uncompressedSize > MAX_MEMBER_BYTES) {
        throw unavailable(image, `the archive member is over ${MAX_MEMBER_BYTES} bytes`);
      }
      const chunks: Buffer[] = [];
      for await (const chunk of await openMemberStream(zip, entry)) chunks.push(chunk as Buffer);
      const bytes = Buffer.concat(chunks);
      checkHash(image, sha256Bytes(bytes));
      return bytes;
    }
    throw unavailable(image, `the archive no longer holds '${source.member}'`);
  } catch (err) {
    if (err instanceof FeverError) throw err;
    throw changed(image, `its archive can no longer be read (${(err as Error).message})`);
  } finally {
    await handle.close();
  }
}
