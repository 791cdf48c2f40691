import { appendFile, mkdtemp, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WHOLE_IMAGE } from '../fec/types.ts';
import { EmbeddingCache } from './cache.ts';

const identity = {
  modelId: 'm',
  modelVersion: '1',
  modelSha256: 'ab'.repeat(32),
  output: 'embedding' as const,
};
const sha = 'cd'.repeat(32);
const box = { left: 0.1, right: 0.9, top: 0, bottom: 1 };

describe('EmbeddingCache', () => {
  it('keeps vectors across opens, keyed by image, box, model and output', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fever-cache-'));
    const a = await EmbeddingCache.open(dir, identity);
    expect(a.get(sha, box)).toBeUndefined();
    a.set(sha, box, Float32Array.from([0.25, -1, 3]));
    a.set(sha, WHOLE_IMAGE, Float32Array.from([1, 2]));
    await a.flush();

    const b = await EmbeddingCache.open(dir, identity);
    expect(b.size).toBe(2);
    expect([...b.get(sha, box)!]).toEqual([0.25, -1, 3]);
    expect([...b.get(sha, WHOLE_IMAGE)!]).toEqual([1, 2]);
    expect(b.get(sha, { ...box, left: 0.2 })).toBeUndefined();
    expect({ hits: b.hits, misses: b.misses }).toEqual({ hits: 2, misses: 1 });

    const otherVersion = await EmbeddingCache.open(dir, { ...identity, modelVersion: '2' });
    expect(otherVersion.get(sha, box)).toBeUndefined();
    const probs = await EmbeddingCache.open(dir, { ...identity, output: 'probs' });
    expect(probs.get(sha, box)).toBeUndefined();
  });

  it('drops a record cut short by a crash and stays appendable', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fever-cache-'));
    const a = await EmbeddingCache.open(dir, identity);
    a.set(sha, box, Float32Array.from([1, 2, 3]));
    await a.flush();
    const [folder] = await readdir(dir);
    const file = join(dir, folder!, 'embedding.bin');
    const good = (await stat(file)).size;
    await appendFile(file, Buffer.alloc(20, 7)); // half a record
    const b = await EmbeddingCache.open(dir, identity);
    expect(b.size).toBe(1);
    expect((await stat(file)).size).toBe(good);
    b.set(sha, WHOLE_IMAGE, Float32Array.from([4]));
    await b.flush();
    const c = await EmbeddingCache.open(dir, identity);
    expect([...c.get(sha, WHOLE_IMAGE)!]).toEqual([4]);
    expect([...c.get(sha, box)!]).toEqual([1, 2, 3]);
  });

  it('keeps nothing without a folder', async () => {
    const a = await EmbeddingCache.open(null, identity);
    a.set(sha, box, Float32Array.from([1]));
    await a.flush();
    expect((await EmbeddingCache.open(null, identity)).size).toBe(0);
  });
});
