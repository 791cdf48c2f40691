import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { f32ToF16 } from '../math.ts';
import {
  bruteForceTopK,
  clusteredUnitVectors,
  RANDOM_DATA_EF_SEARCH,
  randomUnitVectors,
  testId,
} from '../testing/random.ts';
import type { Dtype } from './collection.ts';
import { EmbeddedVectorStore } from './store.ts';
import { points, tempDir } from './test-helpers.ts';

describe('embedded store quantisation', () => {
  const dims = 256;
  const n = 5_000;
  const data = randomUnitVectors(n, dims, 11);
  const queries = randomUnitVectors(30, dims, 12);

  // f16 keeps f16 copies of the vectors, i8 f32 ones.
  for (const [dtype, tolerance] of [
    ['f16', 1e-3],
    ['i8', 1e-6],
  ] as [Dtype, number][]) {
    it(`${dtype}: recall@10 ≥ 0.98 (re-scored from the copies), vectors kept to ${tolerance}, reloads`, async () => {
      const dir = tempDir();
      // Random data needs the wide beam (see RANDOM_DATA_EF_SEARCH), as in the contract suite.
      const efSearch = RANDOM_DATA_EF_SEARCH;
      let store = await EmbeddedVectorStore.open({ dir, dtype, efSearch, fsync: false });
      await store.ensureCollection({ name: 'q', dims, distance: 'cosine' });
      await store.upsert('q', points(data, dims, 0, n));
      const recall = async () => {
        let found = 0;
        for (let q = 0; q < 30; q++) {
          const query = queries.slice(q * dims, (q + 1) * dims);
          const truth = new Set(bruteForceTopK(data, dims, query, 10).map((t) => testId(t.row)));
          found += (await store.search('q', query, { k: 10 })).filter((h) => truth.has(h.id)).length;
        }
        return found / 300;
      };
      expect(await recall()).toBeGreaterThanOrEqual(0.98);
      // Scores are exact cosines of the stored copies, best first, not the graph's quantised ones.
      for (let q = 0; q < 5; q++) {
        const query = queries.slice(q * dims, (q + 1) * dims);
        const hits = await store.search('q', query, { k: 10 });
        const stored = await store.get(
          'q',
          hits.map((h) => h.id),
        );
        hits.forEach((h, i) => {
          const exact = stored[i]!.vector.reduce((acc, x, j) => acc + x * query[j]!, 0);
          expect(h.score).toBeCloseTo(exact, 6);
          if (i > 0) expect(h.score).toBeLessThanOrEqual(hits[i - 1]!.score);
        });
      }
      const [p] = await store.get('q', [testId(42)]);
      const worst = Math.max(...p!.vector.map((x, j) => Math.abs(x - data[42 * dims + j]!)));
      expect(worst).toBeLessThanOrEqual(tolerance);
      await store.close();
      store = await EmbeddedVectorStore.open({ dir, dtype: 'f32', efSearch }); // the collection keeps its own dtype
      expect(await recall()).toBeGreaterThanOrEqual(0.98);
      await store.close();
    }, 60_000);
  }

  it('reads an i8 snapshot written when i8 collections kept f16 copies', async () => {
    const dir = tempDir();
    let store = await EmbeddedVectorStore.open({
      dir,
      dtype: 'i8',
      efSearch: RANDOM_DATA_EF_SEARCH,
      fsync: false,
    });
    await store.ensureCollection({ name: 'old', dims, distance: 'cosine' });
    await store.upsert('old', points(data, dims, 0, 1_000));
    await store.close(); // writes a snapshot
    const snap = join(
      dir,
      'collections',
      'old',
      `snap-${(await readFile(join(dir, 'collections', 'old', 'CURRENT'), 'utf8')).trim()}`,
    );
    const f32 = new Float32Array(new Uint8Array(await readFile(join(snap, 'vectors.bin'))).buffer);
    expect(f32.length).toBe(1_000 * dims);
    await writeFile(join(snap, 'vectors.bin'), new Uint8Array(Uint16Array.from(f32, f32ToF16).buffer));

    store = await EmbeddedVectorStore.open({ dir, efSearch: RANDOM_DATA_EF_SEARCH });
    const [p] = await store.get('old', [testId(7)]);
    const worst = Math.max(...p!.vector.map((x, j) => Math.abs(x - data[7 * dims + j]!)));
    expect(worst).toBeGreaterThan(0); // decoded from f16 bits, not the f32 file
    expect(worst).toBeLessThanOrEqual(1e-3);
    const [hit] = await store.search('old', data.slice(7 * dims, 8 * dims), { k: 1, exact: true });
    expect(hit!.id).toBe(testId(7));
    await store.close();
  });

  // f32 and i8 collections keep 4-byte copies, f16 ones 2-byte: any other length is damage.
  it.each([
    ['i8', (bytes: number) => bytes - 4],
    ['f32', (bytes: number) => bytes / 2],
    ['f16', (bytes: number) => bytes * 2],
  ] as [Dtype, (bytes: number) => number][])(
    '%s: a vectors.bin of the wrong length is reported as corrupt, naming the file',
    async (dtype, damage) => {
      const dir = tempDir();
      let store = await EmbeddedVectorStore.open({ dir, dtype, fsync: false });
      await store.ensureCollection({ name: 'c', dims, distance: 'cosine' });
      await store.upsert('c', points(data, dims, 0, 100));
      await store.close();
      const col = join(dir, 'collections', 'c');
      const file = join(col, `snap-${(await readFile(join(col, 'CURRENT'), 'utf8')).trim()}`, 'vectors.bin');
      const bytes = await readFile(file);
      const damaged = new Uint8Array(damage(bytes.length));
      damaged.set(bytes.subarray(0, Math.min(bytes.length, damaged.length)));
      await writeFile(file, damaged);
      store = await EmbeddedVectorStore.open({ dir });
      await expect(store.get('c', [testId(1)])).rejects.toMatchObject({
        code: 'VECTORS_CORRUPT',
        message: expect.stringContaining('vectors.bin has the wrong size'),
      });
      await store.close();
    },
  );
});

describe('embedded filtered search on the graph path', () => {
  it('grows the candidate set, then falls back to an exact scan, so selective filters keep recall', async () => {
    const dims = 64;
    const n = 5_000;
    const data = randomUnitVectors(n, dims, 21);
    const rare = (i: number) => (i % 100 === 0 ? 'rare' : i % 10 === 0 ? 'uncommon' : 'common');
    // exactThreshold 0 forces the graph path even for the 50 'rare' points.
    const store = await EmbeddedVectorStore.open({
      dir: tempDir(),
      exactThreshold: 0,
      efSearch: 64,
      fsync: false,
    });
    await store.ensureCollection({ name: 'f', dims, distance: 'cosine' });
    await store.upsert('f', points(data, dims, 0, n, rare));
    for (const label of ['rare', 'uncommon']) {
      const query = randomUnitVectors(1, dims, 99);
      const truth = bruteForceTopK(data, dims, query, 10, (i) => rare(i) === label).map((t) => testId(t.row));
      const hits = await store.search('f', query, { k: 10, filter: { labels: [label] } });
      expect(hits.map((h) => h.id)).toEqual(truth);
    }
    await store.close();
  });
});

describe('embedded batched search', () => {
  it('answers concurrent unfiltered searches, run as one usearch call, as it answers them one by one', async () => {
    const dims = 64;
    const n = 3_000;
    const data = clusteredUnitVectors(n, dims, 41, 30);
    // A narrow beam, so that excluding 40 of a query's neighbours makes it widen on its own.
    const store = await EmbeddedVectorStore.open({ dir: tempDir(), efSearch: 16, fsync: false });
    await store.ensureCollection({ name: 'b', dims, distance: 'cosine' });
    await store.upsert('b', points(data, dims, 0, n));
    const queries = clusteredUnitVectors(12, dims, 42, 30);
    const requests = Array.from({ length: 12 }, (_, q) => ({
      vector: queries.slice(q * dims, (q + 1) * dims),
      options: {
        k: q % 3 === 0 ? 50 : 10,
        excludeIds:
          q % 4 === 1
            ? bruteForceTopK(data, dims, queries.slice(q * dims, (q + 1) * dims), 40).map((t) =>
                testId(t.row),
              )
            : [],
      },
    }));
    const alone = [];
    for (const r of requests) alone.push(await store.search('b', r.vector, r.options));
    const together = await Promise.all(requests.map((r) => store.search('b', r.vector, r.options)));
    expect(together).toEqual(alone);
    for (const [q, hits] of together.entries()) {
      expect(hits).toHaveLength(requests[q]!.options.k);
      const excluded = new Set(requests[q]!.options.excludeIds);
      expect(hits.some((h) => excluded.has(h.id))).toBe(false);
    }
    // A bad id fails its own search only.
    const [bad, good] = await Promise.allSettled([
      store.search('b', requests[0]!.vector, { k: 10, excludeIds: ['not-an-id'] }),
      store.search('b', requests[1]!.vector, requests[1]!.options),
    ]);
    expect(bad).toMatchObject({ status: 'rejected', reason: { code: 'VECTORS_INVALID_ID' } });
    expect(good).toEqual({ status: 'fulfilled', value: alone[1] });
    await store.close();
  });
});

describe('embedded exact scan', () => {
  // f32 and i8 scan their f32 copies on usearch's kernel, f16 its f16 copies in JS (scores to ~1e-3).
  it.each([
    ['f32', 5],
    ['i8', 5],
    ['f16', 3],
  ] as [Dtype, number][])(
    '%s: skips deleted and excluded points and matches brute force over the rest',
    async (dtype, digits) => {
      const dims = 32;
      const n = 2_000;
      const data = randomUnitVectors(n, dims, 31);
      const store = await EmbeddedVectorStore.open({ dir: tempDir(), dtype, fsync: false });
      await store.ensureCollection({ name: 'x', dims, distance: 'cosine' });
      await store.upsert('x', points(data, dims, 0, n));
      const query = randomUnitVectors(1, dims, 32);
      const before = bruteForceTopK(data, dims, query, 30);
      const deleted = new Set(before.slice(0, 10).map((t) => t.row)); // the 10 best are gone
      await store.deleteByIds(
        'x',
        [...deleted].map((r) => testId(r)),
      );
      const excluded = before.slice(10, 13).map((t) => testId(t.row));
      const alive = (r: number) => !deleted.has(r) && !excluded.includes(testId(r));
      const truth = bruteForceTopK(data, dims, query, 10, alive);
      for (const filter of [undefined, { minScore: 0 }]) {
        const hits = await store.search('x', query, { k: 10, exact: true, excludeIds: excluded, filter });
        expect(hits.map((h) => h.id)).toEqual(truth.map((t) => testId(t.row)));
        for (const [i, h] of hits.entries()) expect(h.score).toBeCloseTo(truth[i]!.score, digits);
      }
      await store.close();
    },
  );
});
