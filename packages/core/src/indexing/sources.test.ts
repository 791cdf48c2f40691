import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeverError } from '@fever/errors';
import { afterAll, describe, expect, it } from 'vitest';
import { writeTar, writeZip } from '../testing.ts';
import { readEntryFile } from './embed.ts';
import { describeSource, type SourceEntry, walkSource } from './sources.ts';

const root = mkdtempSync(join(tmpdir(), 'fever-sources-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const bytes = (text: string) => new Uint8Array(Buffer.from(text));
const JPEG_HEAD = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46]);

async function all(source: string, signal?: AbortSignal): Promise<SourceEntry[]> {
  const out: SourceEntry[] = [];
  for await (const e of walkSource(await describeSource(source), signal)) out.push(e);
  return out;
}

describe('directory sources', () => {
  const dir = join(root, 'tree');
  mkdirSync(join(dir, 'a', 'b', 'c'), { recursive: true });
  mkdirSync(join(dir, '.cache'), { recursive: true });
  for (const f of [
    'one.jpg',
    'a/two.JPEG',
    'a/b/three.png',
    'a/b/c/four.webp',
    'a/b/c/five.tiff',
    'a/notes.txt',
  ]) {
    writeFileSync(join(dir, f), 'x');
  }
  writeFileSync(join(dir, '.hidden.jpg'), 'x');
  writeFileSync(join(dir, 'a', '._one.jpg'), 'x'); // macOS AppleDouble companion
  writeFileSync(join(dir, '.cache', 'six.jpg'), 'x');
  symlinkSync(join(dir, 'one.jpg'), join(dir, 'a', 'link.jpg'));
  symlinkSync(join(dir, 'missing.jpg'), join(dir, 'a', 'dangling.jpg'));
  symlinkSync(dir, join(dir, 'a', 'b', 'loop')); // a directory link: not followed

  it('walks every image in the tree, once, by absolute path', async () => {
    const entries = await all(dir);
    const names = entries.map((e) => e.uri.slice(dir.length + 1)).sort();
    expect(names).toEqual([
      'a/b/c/five.tiff',
      'a/b/c/four.webp',
      'a/b/three.png',
      'a/link.jpg',
      'a/two.JPEG',
      'one.jpg',
    ]);
    for (const e of entries) expect(e.path).toBe(e.uri);
  });

  it('with `within`, fails a link that leads elsewhere (without reading it) and follows the rest', async () => {
    const outside = join(root, 'outside');
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, 'secret.jpg'), 'x');
    const confined = join(root, 'confined');
    mkdirSync(confined, { recursive: true });
    writeFileSync(join(confined, 'own.jpg'), 'x');
    symlinkSync(join(confined, 'own.jpg'), join(confined, 'in.jpg'));
    symlinkSync(join(outside, 'secret.jpg'), join(confined, 'out.jpg'));
    const within = [realpathSync(confined)];
    const entries: SourceEntry[] = [];
    for await (const e of walkSource(await describeSource(confined), undefined, within)) entries.push(e);
    const byName = Object.fromEntries(
      entries.map((e) => [e.uri.slice(confined.length + 1), e.error?.code ?? 'ok']),
    );
    expect(byName).toEqual({ 'own.jpg': 'ok', 'in.jpg': 'ok', 'out.jpg': 'LINK_OUTSIDE_SOURCE' });
    // Read later (the embed stage), the same link is refused again, and one inside is read.
    await expect(readEntryFile(join(confined, 'out.jpg'), 'out.jpg', within)).rejects.toMatchObject({
      code: 'LINK_OUTSIDE_SOURCE',
    });
    expect(await readEntryFile(join(confined, 'in.jpg'), 'in.jpg', within)).toEqual(bytes('x'));
    expect(await readEntryFile(join(confined, 'out.jpg'), 'out.jpg')).toEqual(bytes('x'));
  });

  it('stops early when aborted', async () => {
    const abort = new AbortController();
    const seen: SourceEntry[] = [];
    for await (const e of walkSource(await describeSource(dir), abort.signal)) {
      seen.push(e);
      abort.abort();
    }
    expect(seen).toHaveLength(1);
  });

  it('streams a large flat directory without listing it first', async () => {
    const big = join(root, 'big');
    mkdirSync(big);
    for (let i = 0; i < 3000; i++) writeFileSync(join(big, `${i}.jpg`), '');
    const it = walkSource(await describeSource(big));
    const first = await it.next();
    expect(first.done).toBe(false);
    await it.return(undefined);
    expect((await all(big)).length).toBe(3000);
  }, 30_000);
});

describe('list sources', () => {
  it('takes one path per line, relative to the list, skipping blanks and comments', async () => {
    const dir = join(root, 'lists');
    mkdirSync(dir);
    const list = join(dir, 'photos.txt');
    writeFileSync(list, '# my photos\r\nx/one.jpg\r\n\r\n  /abs/two.png  \nthree.bin\n');
    const entries = await all(list);
    expect(entries.map((e) => e.uri)).toEqual([
      join(dir, 'x/one.jpg'),
      '/abs/two.png',
      join(dir, 'three.bin'),
    ]);
    expect((await describeSource(list)).kind).toBe('list');
  });
});

describe('archive sources', () => {
  const members = [
    { name: 'photos/one.jpg', bytes: bytes('first') },
    { name: 'photos/sub/two.png', bytes: bytes('second, longer '.repeat(100)) },
    { name: 'photos/readme.txt', bytes: bytes('not an image') },
    { name: '__MACOSX/photos/._one.jpg', bytes: bytes('resource fork') },
  ];
  const expected = [
    { name: 'photos/one.jpg', text: 'first' },
    { name: 'photos/sub/two.png', text: 'second, longer '.repeat(100) },
  ];

  for (const kind of ['zip', 'zip-stored', 'tar', 'tar.gz'] as const) {
    it(`reads the image members of a ${kind} with their bytes`, async () => {
      const path = join(root, `a-${kind}.${kind.startsWith('zip') ? 'zip' : kind}`);
      if (kind.startsWith('zip')) await writeZip(path, members, { store: kind === 'zip-stored' });
      else await writeTar(path, members, { gzip: kind === 'tar.gz' });
      expect((await describeSource(path)).kind).toBe(kind.startsWith('zip') ? 'zip' : kind);
      const entries = await all(path);
      expect(
        entries.map((e) => ({ name: e.uri.slice(path.length + 2), text: Buffer.from(e.bytes!).toString() })),
      ).toEqual(expected);
      for (const e of entries) expect(e.uri.startsWith(`${path}!/`)).toBe(true);
    });
  }

  it('records a truncated tar.gz as one failed entry after the members read so far', async () => {
    const path = join(root, 'cut.tar.gz');
    const many = Array.from({ length: 40 }, (_, i) => ({
      name: `p/${i}.jpg`,
      bytes: Uint8Array.from({ length: 20_000 }, (_, j) => (i * 31 + j * 7) % 256),
    }));
    await writeTar(path, many, { gzip: true });
    const whole = await readFile(path);
    writeFileSync(path, whole.subarray(0, Math.floor(whole.length / 2)));
    const entries = await all(path);
    const last = entries.at(-1)!;
    expect(last.uri).toBe(`${path}!`);
    expect(last.error?.code).toBe('ARCHIVE_CORRUPT');
    expect(entries.length).toBeGreaterThan(1);
    expect(entries.length).toBeLessThan(41);
  }, 30_000);

  it('records a damaged zip as one failed entry', async () => {
    const path = join(root, 'bad.zip');
    writeFileSync(path, Buffer.concat([Buffer.from('PK\u0003\u0004'), Buffer.alloc(100, 7)]));
    const entries = await all(path);
    expect(entries).toHaveLength(1);
    expect(entries[0]!.error?.code).toBe('ARCHIVE_CORRUPT');
  });
});

describe('describeSource', () => {
  it('knows a single image, and refuses what it cannot read', async () => {
    const image = join(root, 'photo.dat');
    writeFileSync(image, JPEG_HEAD);
    expect(await describeSource(image)).toEqual({ kind: 'file', path: image });
    expect(await all(image)).toEqual([{ uri: image, path: image }]);

    const binary = join(root, 'blob.bin');
    writeFileSync(binary, Buffer.from([1, 2, 0, 3, 4]));
    await expect(describeSource(binary)).rejects.toMatchObject({ code: 'SOURCE_UNSUPPORTED' });
    const missing = describeSource(join(root, 'nope'));
    await expect(missing).rejects.toBeInstanceOf(FeverError);
    await expect(missing).rejects.toMatchObject({ code: 'SOURCE_NOT_FOUND' });
  });
});
