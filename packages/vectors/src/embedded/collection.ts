import { FeverError } from '@fever/errors';
import { type BatchMatches, exactSearch, Index, type Matches, MetricKind, ScalarKind } from 'usearch';
import { f16ToF32Table, f32ToF16, normalized } from '../math.ts';
import type { Distance, PointPayload, SearchFilter } from '../types.ts';
import { hasCondition } from '../validate.ts';
import { TopK } from './topk.ts';

/**
 * One embedded vector collection in memory: the usearch HNSW graph plus what usearch does not
 * keep for us (the JS binding has no "get vector by key" and no filtered search): the id ↔ slot
 * map, payloads, small inverted indexes for filtering, and a copy of every vector for `get`,
 * exact scans and re-scoring. Pure in-memory state; persistence lives in snapshot.ts/wal.ts and
 * the write ordering in store.ts.
 *
 * Keys: each point occupies a *slot*, a small integer that is also its usearch key. New points
 * take freed slots first, then the next sequential one; a replaced point keeps its slot.
 */

export type Dtype = 'f32' | 'f16' | 'i8';

export interface CollectionMeta {
  name: string;
  dims: number;
  distance: Distance;
  /** How usearch stores vectors in the graph (f16/i8 halve/quarter its memory). */
  dtype: Dtype;
  connectivity: number;
  expansionAdd: number;
}

export interface SearchTuning {
  /** Candidates taken from the graph per query (the HNSW beam width, "ef"). */
  efSearch: number;
  /** A filter matching at most this many points is answered by an exact scan of them. */
  exactThreshold: number;
  /** Threads usearch may use to insert a batch or to search several queries at once (0 = all cores). */
  threads: number;
}

export interface Scored {
  slot: number;
  score: number;
}

/** One query of a batched unfiltered search. */
export interface UnfilteredQuery {
  query: Float32Array;
  k: number;
  /** Slots never to return. */
  exclude: ReadonlySet<number>;
}

const INITIAL_SLOTS = 1024;

export class MemCollection {
  readonly meta: CollectionMeta;
  readonly index: Index;
  /**
   * Every vector, for `get`, re-scoring and exact scans: f32 for f32 and i8 (exact scans then run
   * on usearch's SIMD kernel, 6× a JS loop over f16), f16 bits for f16 (the smallest store).
   */
  private slab: Float32Array | Uint16Array;
  private capacity = 0;
  private readonly ids: (string | undefined)[] = [];
  private readonly payloads: (PointPayload | undefined)[] = [];
  private readonly idToSlot = new Map<string, number>();
  private free: number[] = [];
  private highWaterMark = 0;
  private readonly byCollection = new Map<string, Set<number>>();
  private readonly byLabel = new Map<string, Set<number>>();
  private readonly byImage = new Map<string, Set<number>>();
  /** Set when an apply failed half-way: memory no longer matches the log until a reopen. */
  failure: Error | undefined;

  constructor(meta: CollectionMeta) {
    this.meta = meta;
    this.index = new Index({
      dimensions: meta.dims,
      metric: meta.distance === 'cosine' ? MetricKind.Cos : MetricKind.L2sq,
      quantization: { f32: ScalarKind.F32, f16: ScalarKind.F16, i8: ScalarKind.I8 }[meta.dtype],
      connectivity: meta.connectivity,
      expansion_add: meta.expansionAdd,
      // Unused: searches ask for max(ef, k) results, which sets the beam per query.
      expansion_search: 16,
      multi: false,
    });
    this.slab = meta.dtype === 'f16' ? new Uint16Array(0) : new Float32Array(0);
  }

  get size(): number {
    return this.idToSlot.size;
  }

  /** One past the highest slot ever used: the length of the persisted slot arrays. */
  get highWater(): number {
    return this.highWaterMark;
  }

  slotOf(id: string): number | undefined {
    return this.idToSlot.get(id);
  }

  idAt(slot: number): string | undefined {
    return this.ids[slot];
  }

  payloadAt(slot: number): PointPayload | undefined {
    return this.payloads[slot];
  }

  /** The vector a point was stored with (unit length for cosine), decoded to f32. */
  vectorAt(slot: number): Float32Array {
    const { dims } = this.meta;
    const out = new Float32Array(dims);
    const off = slot * dims;
    if (this.slab instanceof Float32Array) out.set(this.slab.subarray(off, off + dims));
    else {
      const table = f16ToF32Table();
      for (let i = 0; i < dims; i++) out[i] = table[this.slab[off + i]!]!;
    }
    return out;
  }

  /** Bytes per number of the stored copies (snapshot's vectors.bin). */
  get slabBytesPerValue(): 2 | 4 {
    return this.slab instanceof Float32Array ? 4 : 2;
  }

  /** Raw slab bytes for slots [0, highWater), for snapshots. */
  slabBytes(): Uint8Array {
    const used = this.slab.subarray(0, this.highWaterMark * this.meta.dims);
    return new Uint8Array(used.buffer, used.byteOffset, used.byteLength);
  }

  /** The vector as it will be stored: unit length for cosine. */
  prepare(vector: Float32Array): Float32Array {
    return this.meta.distance === 'cosine' ? normalized(vector) : Float32Array.from(vector);
  }

  /** Slots the ids would take, without changing anything (so the log can record them first). */
  planSlots(ids: readonly string[]): number[] {
    let fromFree = this.free.length;
    let next = this.highWaterMark;
    return ids.map((id) => this.idToSlot.get(id) ?? (fromFree > 0 ? this.free[--fromFree]! : next++));
  }

  /**
   * Inserts or replaces points at planned slots. `vectors` holds the prepared vectors back to back.
   * The same call replays a logged write, so it must depend only on its arguments and the state.
   */
  applyUpsert(
    slots: readonly number[],
    ids: readonly string[],
    payloads: readonly PointPayload[],
    vectors: Float32Array,
    threads: number,
  ): void {
    const { dims } = this.meta;
    const replaced = slots.filter((s) => this.ids[s] !== undefined);
    if (replaced.length > 0) {
      for (const s of replaced) this.unindex(s);
      this.index.remove(BigUint64Array.from(replaced, BigInt));
    }
    let top = this.highWaterMark;
    for (const s of slots) if (s + 1 > top) top = s + 1;
    this.ensureCapacity(top);
    try {
      this.index.add(BigUint64Array.from(slots, BigInt), vectors, threads);
    } catch (err) {
      this.failure = err as Error;
      throw new FeverError('VECTORS_INDEX_FAILED', `usearch could not insert into ${this.meta.name}`, {
        cause: err,
      });
    }
    const taken = new Set<number>();
    slots.forEach((s, i) => {
      const v = vectors.subarray(i * dims, (i + 1) * dims);
      if (this.slab instanceof Float32Array) this.slab.set(v, s * dims);
      else for (let j = 0; j < dims; j++) this.slab[s * dims + j] = f32ToF16(v[j]!);
      const id = ids[i]!;
      this.ids[s] = id;
      this.payloads[s] = payloads[i]!;
      this.idToSlot.set(id, s);
      this.indexPayload(s);
      if (s < this.highWaterMark) taken.add(s);
    });
    if (taken.size > 0) this.free = this.free.filter((s) => !taken.has(s));
    this.highWaterMark = top;
  }

  applyDelete(slots: readonly number[]): void {
    const live = slots.filter((s) => this.ids[s] !== undefined);
    if (live.length === 0) return;
    this.index.remove(BigUint64Array.from(live, BigInt));
    for (const s of live) {
      this.unindex(s);
      this.idToSlot.delete(this.ids[s]!);
      this.ids[s] = undefined;
      this.payloads[s] = undefined;
      this.free.push(s);
    }
  }

  /** Restores a point from a snapshot (the graph itself is loaded separately). */
  restorePoint(slot: number, id: string, payload: PointPayload): void {
    this.ids[slot] = id;
    this.payloads[slot] = payload;
    this.idToSlot.set(id, slot);
    this.indexPayload(slot);
  }

  /**
   * After restorePoint calls: adopt the snapshot's slab and rebuild the free list. An i8 snapshot
   * written before i8 collections kept f32 copies holds f16 bits (`bytesPerValue` 2): decoded.
   */
  finishRestore(highWater: number, slab: Uint8Array, bytesPerValue: 2 | 4): void {
    this.highWaterMark = highWater;
    this.ensureCapacity(highWater);
    if (bytesPerValue === this.slabBytesPerValue) {
      new Uint8Array(this.slab.buffer, this.slab.byteOffset, slab.byteLength).set(slab);
    } else if (bytesPerValue === 2 && this.slab instanceof Float32Array) {
      const bits = new Uint16Array(slab.byteLength / 2);
      new Uint8Array(bits.buffer).set(slab);
      const table = f16ToF32Table();
      for (let i = 0; i < bits.length; i++) this.slab[i] = table[bits[i]!]!;
    } else {
      throw new Error(`cannot restore ${bytesPerValue}-byte vectors into a ${this.meta.dtype} collection`);
    }
    this.free = [];
    for (let s = highWater - 1; s >= 0; s--) if (this.ids[s] === undefined) this.free.push(s);
  }

  slotsOfImage(imageId: string): number[] {
    return [...(this.byImage.get(imageId) ?? [])];
  }

  /** Live slots matching the filter; undefined when the filter has no condition (all match). */
  matchSlots(filter: SearchFilter | undefined): number[] | undefined {
    if (!hasCondition(filter)) return undefined;
    const f = filter!;
    const collections = f.collections?.length ? f.collections : undefined;
    const labels = f.labels?.length ? f.labels : undefined;
    // Walk the smallest posting list available, check the rest per slot.
    const lists: number[][] = [];
    if (collections) lists.push(union(this.byCollection, collections));
    if (labels) lists.push(union(this.byLabel, labels));
    lists.sort((a, b) => a.length - b.length);
    const accept = this.predicate(f);
    const out: number[] = [];
    const base = lists[0];
    if (base) {
      for (const s of base) if (accept(s)) out.push(s);
    } else {
      for (let s = 0; s < this.highWaterMark; s++) if (this.ids[s] !== undefined && accept(s)) out.push(s);
    }
    return out;
  }

  /**
   * k best matches. Filters never cost recall: a filter matching few points (≤ exactThreshold) is
   * answered by an exact scan of exactly those points; a broad one by the graph with the
   * candidate count scaled by 1/selectivity, grown ×4 while too few candidates pass, and an exact
   * scan as the last resort. When the graph is quantised its best 3k candidates are re-scored from
   * the stored vectors, so f16/i8 lose little ranking quality and scores are an exact scan's.
   */
  search(
    query: Float32Array,
    k: number,
    filter: SearchFilter | undefined,
    exclude: ReadonlySet<number>,
    exact: boolean,
    tuning: SearchTuning,
  ): Scored[] {
    if (this.size === 0) return [];
    const q = this.prepare(query);
    const matches = this.matchSlots(filter);
    if (matches?.length === 0) return [];
    if (exact || (matches && matches.length <= tuning.exactThreshold))
      return this.exactScan(q, matches, k, exclude);
    return this.graphSearch(q, k, exclude, filter, matches, tuning);
  }

  /**
   * Unfiltered graph searches of several queries in one usearch call, spread over
   * `tuning.threads` cores; each answer is the one search() would give. A query that keeps fewer
   * than k hits once its exclusions are dropped carries on alone with a wider beam.
   */
  searchMany(queries: readonly UnfilteredQuery[], tuning: SearchTuning): Scored[][] {
    if (this.size === 0) return queries.map(() => []);
    const { dims } = this.meta;
    const out: Scored[][] = [];
    const byWant = new Map<number, number[]>();
    queries.forEach((query, i) => {
      const want = this.firstWant(query.k, query.exclude.size, 1, tuning);
      byWant.set(want, [...(byWant.get(want) ?? []), i]);
    });
    for (const [want, members] of byWant) {
      const prepared = members.map((i) => this.prepare(queries[i]!.query));
      if (members.length === 1) {
        const { k, exclude } = queries[members[0]!]!;
        out[members[0]!] = this.graphSearch(prepared[0]!, k, exclude, undefined, undefined, tuning);
        continue;
      }
      const matrix = new Float32Array(members.length * dims);
      prepared.forEach((q, j) => {
        matrix.set(q, j * dims);
      });
      const found = this.index.search(matrix, want, tuning.threads) as BatchMatches;
      members.forEach((i, j) => {
        const { k, exclude } = queries[i]!;
        out[i] = this.graphSearch(prepared[j]!, k, exclude, undefined, undefined, tuning, found.get(j));
      });
    }
    return out;
  }

  /** Candidates to take from the graph first: the beam, or more when a filter or exclusions thin them. */
  private firstWant(k: number, excluded: number, selectivity: number, tuning: SearchTuning): number {
    return Math.min(this.size, Math.max(tuning.efSearch, Math.ceil(((k + excluded) / selectivity) * 2)));
  }

  /**
   * The graph path of search(), `q` prepared. `firstRound`: the graph's answer for the first
   * candidate count, when a batched search already has it.
   */
  private graphSearch(
    q: Float32Array,
    k: number,
    exclude: ReadonlySet<number>,
    filter: SearchFilter | undefined,
    matches: number[] | undefined,
    tuning: SearchTuning,
    firstRound?: Matches,
  ): Scored[] {
    const live = this.size;
    const accept = matches ? this.predicate(filter!) : () => true;
    const selectivity = matches ? matches.length / live : 1;
    const maxCandidates = Math.max(tuning.efSearch * 16, 10_000);
    let want = this.firstWant(k, exclude.size, selectivity, tuning);
    // Candidates come nearest first. A quantised graph's order is close enough that the exact top
    // k is among its best 3k, so only those are re-scored (reading the f32 rows of all 64 was 16%
    // of a query server's CPU): recall@10 on real face embeddings 0.9882 against 0.9884.
    const enough = this.meta.dtype === 'f32' ? k : 3 * k;
    let found = firstRound ?? this.index.search(q, want, 1);
    for (;;) {
      const hits: Scored[] = [];
      for (let i = 0; i < found.keys.length && hits.length < enough; i++) {
        const slot = Number(found.keys[i]!);
        if (exclude.has(slot) || !accept(slot)) continue;
        const score =
          this.meta.dtype === 'f32' ? this.scoreFromDistance(found.distances[i]!) : this.scoreSlot(q, slot);
        hits.push({ slot, score });
      }
      if (hits.length >= k) return hits.sort((a, b) => b.score - a.score || a.slot - b.slot).slice(0, k);
      // Too few passed: widen the beam, unless it already covers everything or costs more than a scan.
      if (want >= live || want >= maxCandidates) break;
      want = Math.min(live, want * 4);
      found = this.index.search(q, want, 1);
    }
    return this.exactScan(q, matches, k, exclude);
  }

  /** Exhaustive scan over `slots` (all live points when undefined). `q` is prepared. */
  exactScan(
    q: Float32Array,
    slots: readonly number[] | undefined,
    k: number,
    exclude: ReadonlySet<number>,
  ): Scored[] {
    if (this.slab instanceof Float32Array) return this.nativeScan(this.slab, q, slots, k, exclude);
    const top = new TopK(k);
    if (slots) {
      for (const s of slots) if (!exclude.has(s)) top.push(this.scoreSlot(q, s), s);
    } else {
      for (let s = 0; s < this.highWaterMark; s++) {
        if (this.ids[s] !== undefined && !exclude.has(s)) top.push(this.scoreSlot(q, s), s);
      }
    }
    return top.sorted();
  }

  /**
   * The f32 scan on usearch's SIMD kernels (~8× a JS loop). Without a slot list the whole slab is
   * scanned in place and dead or excluded slots are skipped afterwards; with one, the candidates
   * are gathered first. (Arrays passed here start at offset 0: exactSearch ignores a view's offset.)
   */
  private nativeScan(
    slab: Float32Array,
    q: Float32Array,
    slots: readonly number[] | undefined,
    k: number,
    exclude: ReadonlySet<number>,
  ): Scored[] {
    const { dims } = this.meta;
    const metric = this.meta.distance === 'cosine' ? MetricKind.Cos : MetricKind.L2sq;
    const out: Scored[] = [];
    if (!slots) {
      const rows = this.highWaterMark;
      const want = Math.min(rows, k + (rows - this.size) + exclude.size);
      if (want === 0) return out;
      const found = exactSearch(slab.subarray(0, rows * dims), q, dims, want, metric, 1) as Matches;
      for (let i = 0; i < found.keys.length && out.length < k; i++) {
        const slot = Number(found.keys[i]!);
        if (this.ids[slot] === undefined || exclude.has(slot)) continue;
        out.push({ slot, score: this.scoreFromDistance(found.distances[i]!) });
      }
      return out;
    }
    const picked = exclude.size > 0 ? slots.filter((s) => !exclude.has(s)) : slots;
    if (picked.length === 0) return out;
    const gathered = new Float32Array(picked.length * dims);
    for (let i = 0; i < picked.length; i++) {
      const off = picked[i]! * dims;
      gathered.set(slab.subarray(off, off + dims), i * dims);
    }
    const found = exactSearch(gathered, q, dims, Math.min(k, picked.length), metric, 1) as Matches;
    for (let i = 0; i < found.keys.length; i++) {
      out.push({ slot: picked[Number(found.keys[i]!)]!, score: this.scoreFromDistance(found.distances[i]!) });
    }
    return out;
  }

  private scoreFromDistance(d: number): number {
    // usearch reports 1 − cos for cosine and the squared distance for l2sq.
    return this.meta.distance === 'cosine' ? 1 - d : 1 / (1 + Math.sqrt(Math.max(0, d)));
  }

  private scoreSlot(q: Float32Array, slot: number): number {
    const { dims } = this.meta;
    const off = slot * dims;
    const slab = this.slab;
    const cosine = this.meta.distance === 'cosine';
    let acc = 0;
    if (slab instanceof Float32Array) {
      if (cosine) for (let i = 0; i < dims; i++) acc += q[i]! * slab[off + i]!;
      else
        for (let i = 0; i < dims; i++) {
          const d = q[i]! - slab[off + i]!;
          acc += d * d;
        }
    } else {
      const t = f16ToF32Table();
      if (cosine) for (let i = 0; i < dims; i++) acc += q[i]! * t[slab[off + i]!]!;
      else
        for (let i = 0; i < dims; i++) {
          const d = q[i]! - t[slab[off + i]!]!;
          acc += d * d;
        }
    }
    return cosine ? acc : 1 / (1 + Math.sqrt(acc));
  }

  private predicate(filter: SearchFilter): (slot: number) => boolean {
    const collections = filter.collections?.length ? new Set(filter.collections) : undefined;
    const labels = filter.labels?.length ? new Set(filter.labels) : undefined;
    const minScore = filter.minScore;
    return (slot) => {
      const p = this.payloads[slot];
      if (!p) return false;
      if (collections && !collections.has(p.collection)) return false;
      if (labels && !labels.has(p.label)) return false;
      return minScore === undefined || p.score >= minScore;
    };
  }

  private ensureCapacity(slots: number): void {
    if (slots <= this.capacity) return;
    let cap = Math.max(this.capacity, INITIAL_SLOTS);
    while (cap < slots) cap *= 2;
    const grown =
      this.slab instanceof Float32Array
        ? new Float32Array(cap * this.meta.dims)
        : new Uint16Array(cap * this.meta.dims);
    grown.set(this.slab);
    this.slab = grown;
    this.capacity = cap;
  }

  private indexPayload(slot: number): void {
    const p = this.payloads[slot]!;
    add(this.byCollection, p.collection, slot);
    add(this.byLabel, p.label, slot);
    add(this.byImage, p.imageId, slot);
  }

  private unindex(slot: number): void {
    const p = this.payloads[slot];
    if (!p) return;
    remove(this.byCollection, p.collection, slot);
    remove(this.byLabel, p.label, slot);
    remove(this.byImage, p.imageId, slot);
  }
}

function add(map: Map<string, Set<number>>, key: string, slot: number): void {
  const set = map.get(key);
  if (set) set.add(slot);
  else map.set(key, new Set([slot]));
}

function remove(map: Map<string, Set<number>>, key: string, slot: number): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(slot);
  if (set.size === 0) map.delete(key);
}

function union(map: Map<string, Set<number>>, keys: readonly string[]): number[] {
  const out: number[] = [];
  for (const key of new Set(keys)) for (const s of map.get(key) ?? []) out.push(s);
  return out;
}
