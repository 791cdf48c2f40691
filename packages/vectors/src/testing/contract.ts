import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Point, PointPayload, SearchFilter, VectorStore } from '../types.ts';
import { bruteForceTopK, prng, randomUnitVectors, testId } from './random.ts';

/**
 * The one behaviour every VectorStore adapter must show. An adapter's test file calls
 * `vectorStoreContract` with a way to open (and re-open) its store; the suite creates its own
 * collections under `prefix` and drops them at the end.
 */
export interface ContractTarget {
  /** Opens the store; called again after close() and must reach the same data. */
  open(): Promise<VectorStore>;
  /** Prefix for every collection and alias name the suite creates (a shared server needs it). */
  prefix: string;
  /** Largest allowed |stored − unit input| per component (f16 storage needs ~1e-3). */
  vectorTolerance?: number;
  /** Timeout for the 20k-point ingest, ms. */
  ingestTimeoutMs?: number;
}

const DIMS = 256;
const N = 20_000;
const QUERIES = 100;
const LABELS = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'];
const ARCHIVES = ['archive-a', 'archive-b', 'archive-c'];

interface Fixture {
  data: Float32Array;
  payloads: PointPayload[];
  ids: string[];
  rowOf: Map<string, number>;
  queries: Float32Array;
}

function fixture(): Fixture {
  const data = randomUnitVectors(N, DIMS, 42);
  const queries = randomUnitVectors(QUERIES, DIMS, 4242);
  const rand = prng(7);
  const ids: string[] = [];
  const payloads: PointPayload[] = [];
  for (let i = 0; i < N; i++) {
    ids.push(testId(i));
    payloads.push({
      collection: ARCHIVES[Math.floor(rand() * ARCHIVES.length)]!,
      imageId: `img-${i >> 1}`,
      label: LABELS[Math.floor(rand() * LABELS.length)]!,
      score: Math.round(rand() * 1000) / 1000,
      model: 'test-model@1',
      faceIndex: i & 1,
    });
  }
  return { data, payloads, ids, rowOf: new Map(ids.map((id, i) => [id, i])), queries };
}

function row(data: Float32Array, i: number, dims = DIMS): Float32Array {
  return data.slice(i * dims, (i + 1) * dims);
}

function points(f: Fixture, from: number, to: number): Point[] {
  const out: Point[] = [];
  for (let i = from; i < to; i++)
    out.push({ id: f.ids[i]!, vector: row(f.data, i), payload: f.payloads[i]! });
  return out;
}

function matches(p: PointPayload, filter: SearchFilter): boolean {
  if (filter.collections?.length && !filter.collections.includes(p.collection)) return false;
  if (filter.labels?.length && !filter.labels.includes(p.label)) return false;
  return filter.minScore === undefined || p.score >= filter.minScore;
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  await expect(promise).rejects.toMatchObject({ code });
}

export function vectorStoreContract(name: string, target: ContractTarget): void {
  // Generous per-test limits: a 2-core machine shared with other work runs the recall checks slowly.
  describe(`VectorStore contract: ${name}`, { timeout: 60_000 }, () => {
    const big = `${target.prefix}big`;
    const small = `${target.prefix}small`;
    const tol = target.vectorTolerance ?? 1e-5;
    const created = new Set<string>([big, small]);
    let store: VectorStore;
    let f: Fixture;

    beforeAll(async () => {
      f = fixture();
      store = await target.open();
      for (const c of created) await store.dropCollection(c);
      await store.ensureCollection({ name: big, dims: DIMS, distance: 'cosine' });
      await store.upsert(big, points(f, 0, N));
    }, target.ingestTimeoutMs ?? 120_000);

    afterAll(async () => {
      if (!store) return;
      for (const alias of Object.keys(await store.listAliases().catch(() => ({})))) {
        if (alias.startsWith(target.prefix)) await store.deleteAlias(alias);
      }
      for (const c of created) await store.dropCollection(c).catch(() => undefined);
      await store.close();
    }, 60_000);

    it('holds every point once after a 20k ingest', async () => {
      expect(await store.count(big)).toBe(N);
      expect(await store.describeCollection(big)).toEqual({
        name: big,
        dims: DIMS,
        distance: 'cosine',
        count: N,
      });
    });

    it('finds ≥ 98% of the exact top 10 (recall@10 vs brute force, 20k random 256-d unit vectors)', async () => {
      let found = 0;
      let worstScoreError = 0;
      for (let q = 0; q < QUERIES; q++) {
        const query = row(f.queries, q);
        const truth = bruteForceTopK(f.data, DIMS, query, 10);
        const hits = await store.search(big, query, { k: 10 });
        expect(hits).toHaveLength(10);
        const truthIds = new Set(truth.map((t) => f.ids[t.row]));
        found += hits.filter((h) => truthIds.has(h.id)).length;
        for (let i = 1; i < hits.length; i++) expect(hits[i]!.score).toBeLessThanOrEqual(hits[i - 1]!.score);
        for (const h of hits) {
          const exact = bruteForceTopK(row(f.data, f.rowOf.get(h.id)!), DIMS, query, 1)[0]!.score;
          worstScoreError = Math.max(worstScoreError, Math.abs(exact - h.score));
        }
      }
      const recall = found / (QUERIES * 10);
      console.info(`[${name}] recall@10 = ${recall.toFixed(4)} over ${QUERIES} queries`);
      expect(recall).toBeGreaterThanOrEqual(0.98);
      expect(worstScoreError).toBeLessThan(Math.max(1e-4, tol * 4));
    });

    const filters: [string, SearchFilter][] = [
      ['one label (selective)', { labels: ['happy'] }],
      ['six labels (broad)', { labels: LABELS.slice(0, 6) }],
      ['minScore', { minScore: 0.5 }],
      ['collections', { collections: ['archive-b'] }],
      [
        'combined',
        { collections: ['archive-a', 'archive-c'], labels: ['happy', 'sad', 'angry'], minScore: 0.3 },
      ],
    ];
    for (const [what, filter] of filters) {
      it(`filters by ${what} without losing recall`, async () => {
        let found = 0;
        const queries = 20;
        for (let q = 0; q < queries; q++) {
          const query = row(f.queries, q);
          const truth = bruteForceTopK(f.data, DIMS, query, 10, (r) => matches(f.payloads[r]!, filter));
          const hits = await store.search(big, query, { k: 10, filter });
          expect(hits).toHaveLength(10);
          for (const h of hits) expect(matches(h.payload, filter)).toBe(true);
          const truthIds = new Set(truth.map((t) => f.ids[t.row]));
          found += hits.filter((h) => truthIds.has(h.id)).length;
        }
        expect(found / (queries * 10)).toBeGreaterThanOrEqual(0.98);
        const expected = f.payloads.filter((p) => matches(p, filter)).length;
        expect(await store.count(big, filter)).toBe(expected);
      });
    }

    it('never returns excluded ids and still fills k', async () => {
      const query = row(f.queries, 0);
      const truth = bruteForceTopK(f.data, DIMS, query, 15);
      const excluded = truth.slice(0, 5).map((t) => f.ids[t.row]!);
      const hits = await store.search(big, query, { k: 10, excludeIds: excluded });
      expect(hits).toHaveLength(10);
      expect(hits.some((h) => excluded.includes(h.id))).toBe(false);
      const expected = new Set(truth.slice(5).map((t) => f.ids[t.row]));
      expect(hits.filter((h) => expected.has(h.id)).length).toBeGreaterThanOrEqual(9);
    });

    it('exact search equals brute force', async () => {
      const query = row(f.queries, 3);
      const truth = bruteForceTopK(f.data, DIMS, query, 10).map((t) => f.ids[t.row]);
      const hits = await store.search(big, query, { k: 10, exact: true });
      expect(hits.map((h) => h.id)).toEqual(truth);
    });

    it('gets stored points with vectors and payloads, in the order asked', async () => {
      const wanted = [f.ids[17]!, testId(999_999), f.ids[3]!];
      const got = await store.get(big, wanted);
      expect(got.map((p) => p.id)).toEqual([f.ids[17], f.ids[3]]);
      expect(got[0]!.payload).toEqual(f.payloads[17]);
      const v = got[0]!.vector;
      expect(v).toBeInstanceOf(Float32Array);
      const input = row(f.data, 17);
      let worst = 0;
      for (let j = 0; j < DIMS; j++) worst = Math.max(worst, Math.abs(v[j]! - input[j]!));
      expect(worst).toBeLessThanOrEqual(tol);
    });

    it('upserts idempotently: the same ids twice leave one point each, with the latest payload', async () => {
      await store.ensureCollection({ name: small, dims: DIMS, distance: 'cosine' });
      await store.ensureCollection({ name: small, dims: DIMS, distance: 'cosine' }); // idempotent too
      const first = points(f, 0, 300);
      await store.upsert(small, first);
      await store.upsert(small, first);
      expect(await store.count(small)).toBe(300);
      const relabelled = first
        .slice(0, 50)
        .map((p) => ({ ...p, payload: { ...p.payload, label: 'relabelled' } }));
      await store.upsert(small, relabelled);
      expect(await store.count(small)).toBe(300);
      expect(await store.count(small, { labels: ['relabelled'] })).toBe(50);
      const [p0] = await store.get(small, [first[0]!.id]);
      expect(p0!.payload.label).toBe('relabelled');
      // The replaced vector is found under its id exactly once.
      const hits = await store.search(small, first[0]!.vector, { k: 3 });
      expect(hits[0]!.id).toBe(first[0]!.id);
      expect(hits.filter((h) => h.id === first[0]!.id)).toHaveLength(1);
      // Repeated ids inside one batch: the last one wins.
      await store.upsert(small, [
        first[1]!,
        { ...first[1]!, payload: { ...first[1]!.payload, label: 'last' } },
      ]);
      expect((await store.get(small, [first[1]!.id]))[0]!.payload.label).toBe('last');
      expect(await store.count(small)).toBe(300);
    });

    it('deletes by ids, by image and by filter', async () => {
      const ids = f.ids.slice(0, 10);
      await store.deleteByIds(small, ids);
      expect(await store.count(small)).toBe(290);
      expect(await store.get(small, ids)).toEqual([]);
      const hits = await store.search(small, row(f.data, 0), { k: 20 });
      expect(hits.some((h) => ids.includes(h.id))).toBe(false);
      await store.deleteByIds(small, ids); // deleting again is a no-op
      expect(await store.count(small)).toBe(290);

      await store.deleteByImage(small, 'img-20'); // rows 40 and 41
      expect(await store.count(small)).toBe(288);
      expect(await store.get(small, [f.ids[40]!, f.ids[41]!])).toEqual([]);

      const label = 'relabelled'; // rows 10..49 still carry it (0..9 are gone, 40/41 too)
      await store.deleteByFilter(small, { labels: [label] });
      expect(await store.count(small, { labels: [label] })).toBe(0);
      expect(await store.count(small)).toBe(250);
      await expectCode(store.deleteByFilter(small, {}), 'VECTORS_EMPTY_FILTER');
    });

    it('keeps every point of concurrent upserts', async () => {
      const conc = `${target.prefix}concurrent`;
      created.add(conc);
      await store.ensureCollection({ name: conc, dims: DIMS, distance: 'cosine' });
      // 8 overlapping batches of 250: batch b covers rows [200b, 200b + 250).
      const batches = Array.from({ length: 8 }, (_, b) => points(f, 200 * b, 200 * b + 250));
      await Promise.all([
        ...batches.map((batch) => store.upsert(conc, batch)),
        store.search(conc, row(f.queries, 0), { k: 5 }),
      ]);
      expect(await store.count(conc)).toBe(200 * 7 + 250);
      const got = await store.get(conc, [f.ids[0]!, f.ids[1649]!, f.ids[1650]!]);
      expect(got.map((p) => p.id)).toEqual([f.ids[0], f.ids[1649]]);
    });

    it('compares euclidean collections by 1 / (1 + distance)', async () => {
      const eu = `${target.prefix}euclid`;
      created.add(eu);
      await store.ensureCollection({ name: eu, dims: 4, distance: 'euclid' });
      const p = (n: number, v: number[]): Point => ({
        id: testId(n, 7),
        vector: Float32Array.from(v),
        payload: { collection: 'a', imageId: `e${n}`, label: 'happy', score: 1, model: 'm' },
      });
      await store.upsert(eu, [p(1, [0, 0, 0, 0]), p(2, [3, 4, 0, 0]), p(3, [10, 0, 0, 0])]);
      const hits = await store.search(eu, Float32Array.from([0, 0, 0, 0]), { k: 3 });
      expect(hits.map((h) => h.id)).toEqual([testId(1, 7), testId(2, 7), testId(3, 7)]);
      expect(hits[0]!.score).toBeCloseTo(1, 5);
      expect(hits[1]!.score).toBeCloseTo(1 / 6, 5);
      const [stored] = await store.get(eu, [testId(2, 7)]);
      expect(Array.from(stored!.vector)).toEqual([3, 4, 0, 0]); // euclid vectors are not normalised
    });

    it('rejects bad input with stable codes', async () => {
      await expectCode(
        store.ensureCollection({ name: big, dims: 128, distance: 'cosine' }),
        'VECTORS_COLLECTION_MISMATCH',
      );
      await expectCode(
        store.ensureCollection({ name: 'bad name!', dims: 4, distance: 'cosine' }),
        'VECTORS_INVALID_NAME',
      );
      const good = points(f, 0, 1)[0]!;
      await expectCode(
        store.upsert(big, [{ ...good, vector: new Float32Array(3) }]),
        'VECTORS_DIMS_MISMATCH',
      );
      await expectCode(store.upsert(big, [{ ...good, id: 'face-1' }]), 'VECTORS_INVALID_ID');
      await expectCode(
        store.upsert(big, [{ ...good, vector: new Float32Array(DIMS) }]),
        'VECTORS_INVALID_VECTOR',
      );
      const nan = row(f.data, 0);
      nan[5] = Number.NaN;
      await expectCode(store.upsert(big, [{ ...good, vector: nan }]), 'VECTORS_INVALID_VECTOR');
      await expectCode(
        store.upsert(big, [{ ...good, payload: { ...good.payload, score: 'high' as unknown as number } }]),
        'VECTORS_INVALID_PAYLOAD',
      );
      await expectCode(store.search(big, row(f.data, 0), { k: 0 }), 'VECTORS_INVALID_QUERY');
      await expectCode(
        store.search(`${target.prefix}missing`, row(f.data, 0), { k: 1 }),
        'VECTORS_COLLECTION_NOT_FOUND',
      );
      await expectCode(store.upsert(`${target.prefix}missing`, [good]), 'VECTORS_COLLECTION_NOT_FOUND');
      expect(await store.describeCollection(`${target.prefix}missing`)).toBeUndefined();
      expect(await store.count(big)).toBe(N); // nothing above wrote anything
    });

    it('swaps an alias from one model collection to another with no gap', async () => {
      const v1 = `${target.prefix}model__1`;
      const v2 = `${target.prefix}model__2`;
      const alias = `${target.prefix}model`;
      created.add(v1).add(v2);
      await store.ensureCollection({ name: v1, dims: DIMS, distance: 'cosine' });
      await store.ensureCollection({ name: v2, dims: DIMS, distance: 'cosine' });
      await store.upsert(v1, points(f, 0, 100));
      await store.upsert(v2, points(f, 100, 150));

      expect(await store.swapAlias(alias, v1)).toEqual({ previous: undefined });
      expect(await store.getAlias(alias)).toBe(v1);
      expect(await store.count(alias)).toBe(100);
      const before = await store.search(alias, row(f.data, 5), { k: 1 });
      expect(before[0]!.id).toBe(f.ids[5]);

      // Readers keep searching while the alias moves; every answer comes from v1 or v2, never an error.
      const readers = Array.from({ length: 20 }, () => store.search(alias, row(f.data, 5), { k: 1 }));
      expect(await store.swapAlias(alias, v2)).toEqual({ previous: v1 });
      for (const hits of await Promise.all(readers)) expect(hits).toHaveLength(1);

      expect(await store.getAlias(alias)).toBe(v2);
      expect(await store.count(alias)).toBe(50);
      expect((await store.describeCollection(alias))?.name).toBe(v2);
      expect((await store.listAliases())[alias]).toBe(v2);
      const after = await store.search(alias, row(f.data, 120), { k: 1 });
      expect(after[0]!.id).toBe(f.ids[120]);

      await expectCode(store.swapAlias(alias, `${target.prefix}nope`), 'VECTORS_COLLECTION_NOT_FOUND');
      await expectCode(store.swapAlias(v1, v2), 'VECTORS_NAME_TAKEN');
      await store.dropCollection(v1); // the retired version goes; the alias is untouched
      expect(await store.getAlias(alias)).toBe(v2);
      expect(await store.describeCollection(v1)).toBeUndefined();
      await store.deleteAlias(alias);
      expect(await store.getAlias(alias)).toBeUndefined();
      await expectCode(store.search(alias, row(f.data, 0), { k: 1 }), 'VECTORS_COLLECTION_NOT_FOUND');
    });

    it('keeps everything across close and reopen', async () => {
      const alias = `${target.prefix}persisted`;
      await store.swapAlias(alias, small);
      const queries = [0, 1, 2, 3, 4].map((q) => row(f.queries, q));
      const before = await Promise.all(queries.map((q) => store.search(big, q, { k: 10 })));
      const smallCount = await store.count(small);
      await store.close();
      await expectCode(store.count(big), 'VECTORS_CLOSED');

      store = await target.open();
      expect(await store.count(big)).toBe(N);
      expect(await store.count(small)).toBe(smallCount);
      expect(await store.getAlias(alias)).toBe(small);
      const after = await Promise.all(queries.map((q) => store.search(big, q, { k: 10 })));
      for (let i = 0; i < queries.length; i++) {
        const b = new Set(before[i]!.map((h) => h.id));
        expect(after[i]!.filter((h) => b.has(h.id)).length).toBeGreaterThanOrEqual(9);
      }
      expect((await store.get(big, [f.ids[123]!]))[0]!.payload).toEqual(f.payloads[123]);
      // Writes keep working after a reopen.
      await store.upsert(small, points(f, 1000, 1010));
      expect(await store.count(small)).toBe(smallCount + 10);
      await store.deleteAlias(alias);
    });
  });
}
