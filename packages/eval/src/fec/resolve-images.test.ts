import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ImageResolver } from './resolve-images.ts';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fever-resolve-'));
  await mkdir(join(dir, 'images', 'sub'), { recursive: true });
  await mkdir(join(dir, 'images', 'other'), { recursive: true });
  for (const f of ['a.jpg', 'sub/b.jpg', 'sub/dup.jpg', 'other/dup.jpg', 'sub/space name.jpg']) {
    await writeFile(join(dir, 'images', f), 'x');
  }
  await writeFile(join(dir, 'elsewhere.jpg'), 'x');
});

describe('ImageResolver', () => {
  it('finds a URL by its basename anywhere under the folder', async () => {
    const r = await ImageResolver.create({ images: join(dir, 'images') });
    expect(await r.resolve('http://farm1.example.com/123/a.jpg')).toEqual({
      path: join(dir, 'images', 'a.jpg'),
    });
    expect(await r.resolve('https://x.org/p/b.jpg?size=large#top')).toEqual({
      path: join(dir, 'images', 'sub', 'b.jpg'),
    });
    expect(await r.resolve('http://x.org/space%20name.jpg')).toEqual({
      path: join(dir, 'images', 'sub', 'space name.jpg'),
    });
  });

  it('takes a scheme-less URL as a path under the folder (generated triplets)', async () => {
    const r = await ImageResolver.create({ images: join(dir, 'images') });
    expect(await r.resolve('sub/dup.jpg')).toEqual({ path: join(dir, 'images', 'sub', 'dup.jpg') });
  });

  it('refuses a basename that two files share, and reports one that is absent', async () => {
    const r = await ImageResolver.create({ images: join(dir, 'images') });
    expect(await r.resolve('http://x.org/dup.jpg')).toMatchObject({ reason: 'ambiguous-basename' });
    expect(await r.resolve('http://x.org/none.jpg')).toMatchObject({
      reason: 'not-in-folder',
      detail: expect.stringContaining('none.jpg'),
    });
  });

  it('uses the map first, with paths relative to the map or absolute', async () => {
    const map = join(dir, 'map.csv');
    await writeFile(
      map,
      `url,path\n"http://x.org/1,2.jpg",elsewhere.jpg\nhttp://x.org/gone.jpg,missing.jpg\nhttp://x.org/abs.jpg,${join(dir, 'images', 'a.jpg')}\n`,
    );
    const r = await ImageResolver.create({ map });
    expect(await r.resolve('http://x.org/1,2.jpg')).toEqual({ path: join(dir, 'elsewhere.jpg') });
    expect(await r.resolve('http://x.org/abs.jpg')).toEqual({ path: join(dir, 'images', 'a.jpg') });
    expect(await r.resolve('http://x.org/gone.jpg')).toMatchObject({ reason: 'map-path-missing' });
    expect(await r.resolve('http://x.org/a.jpg')).toMatchObject({ reason: 'not-in-map' });
    // With a folder too, a URL the map lacks is looked up there.
    const both = await ImageResolver.create({ map, images: join(dir, 'images') });
    expect(await both.resolve('http://x.org/a.jpg')).toEqual({ path: join(dir, 'images', 'a.jpg') });
  });

  it('rejects a broken map with its file and line', async () => {
    const map = join(dir, 'bad-map.csv');
    await writeFile(map, 'http://x.org/a.jpg,a.jpg\nhttp://x.org/b.jpg\n');
    await expect(ImageResolver.create({ map })).rejects.toMatchObject({
      code: 'MAP_CSV_INVALID',
      message: `map CSV ${map} line 2: 1 columns, expected 2 (url,path)`,
    });
    await writeFile(map, 'u,a.jpg\nu,b.jpg\n');
    await expect(ImageResolver.create({ map })).rejects.toMatchObject({
      message: expect.stringContaining(
        'line 2: url u is mapped again, to a different path (first on line 1)',
      ),
    });
  });

  it('says which folder is missing', async () => {
    await expect(ImageResolver.create({ images: join(dir, 'nope') })).rejects.toMatchObject({
      code: 'IMAGES_FOLDER_NOT_FOUND',
      message: expect.stringContaining(join(dir, 'nope')),
    });
  });
});
