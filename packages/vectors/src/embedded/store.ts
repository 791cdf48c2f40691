import { mkdir, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError, FeverError, InputError, NotFoundError } from '@fever/errors';
import { assertName } from '../names.ts';
import type {
  CollectionInfo,
  CollectionSpec,
  Point,
  SearchFilter,
  SearchHit,
  SearchOptions,
  StoredPoint,
  VectorStore,
} from '../types.ts';
import {
  checkFilter,
  checkPoints,
  checkSearchOptions,
  checkSpec,
  checkVector,
  hasCondition,
  normalizeId,
} from '../validate.ts';
import { AliasFile } from './aliases.ts';
import type { Dtype, Scored, SearchTuning } from './collection.ts';
import { DurableCollection } from './durable-collection.ts';
import { removeQuietly } from './fsutil.ts';
import { acquireLock } from './lock.ts';
import { SerialQueue } from './queue.ts';

/**
 * The zero-set-up vector store: usearch HNSW indexes in a local directory.
 *
 * Why usearch: it is an established, maintained HNSW library (Unum, Apache-2.0, used by
 * ClickHouse and DuckDB's vss extension) with a prebuilt N-API binary, f16/i8 quantisation
 * (half/quarter the graph memory), save/load/memory-mapped view, deletes and SIMD distance
 * kernels. hnswlib-node was the alternative: float32 only, no quantisation, deletes only as
 * "mark deleted", a native build on install, and slower releases. usearch's JS binding lacks
 * per-query filtering and vector retrieval, which MemCollection adds around it.
 *
 * Layout of `dir`: LOCK (one process at a time), aliases.json, collections/<name>/ (see
 * durable-collection.ts). Writes are serialised through one queue; searches run between them.
 */

export interface EmbeddedOptions {
  dir: string;
  /**
   * Graph storage of new collections: i8 (default: 8-bit graph, searches 1.3–3× faster than f32,
   * candidates re-scored from f32 copies), f16 (least memory), f32. See FEVER_VECTOR_DTYPE.
   */
  dtype?: Dtype;
  /** HNSW links per node (M) for new collections. Default 32. */
  connectivity?: number;
  /** HNSW beam width while inserting (efConstruction) for new collections. Default 128. */
  expansionAdd?: number;
  /**
   * HNSW beam width per query (ef). Default 64: recall@10 0.989 on real face embeddings (28k
   * FER2013 faces, i8 graph; f32 0.992; 128 gives 0.996 at twice the cost, 32 gives 0.969).
   * Uniform random 256-d data, which has no structure for the graph to use, needs ~768 for 0.98
   * at 20k points.
   */
  efSearch?: number;
  /** Filters matching at most this many points are answered exactly. Default 20 000. */
  exactThreshold?: number;
  /** Points per logged write batch. Default 1024. */
  batchSize?: number;
  /** usearch threads for inserting a batch and for searching concurrent queries, 0 = all cores. Default 0. */
  threads?: number;
  /** fdatasync each write batch. Default true. */
  fsync?: boolean;
  /** Minimum log size before a snapshot. Default 64 MiB. */
  snapshotMinLogBytes?: number;
}

type Settings = Required<Omit<EmbeddedOptions, 'dir'>>;

const DEFAULTS: Settings = {
  dtype: 'i8',
  connectivity: 32,
  expansionAdd: 128,
  efSearch: 64,
  exactThreshold: 20_000,
  batchSize: 1024,
  threads: 0,
  fsync: true,
  snapshotMinLogBytes: 64 << 20,
};

export class EmbeddedVectorStore implements VectorStore {
  readonly kind = 'embedded' as const;
  private readonly loaded = new Map<string, Promise<DurableCollection | undefined>>();
  private readonly queue = new SerialQueue();
  /** Unfiltered searches waiting for the next turn, per collection (see searchBatched). */
  private readonly searchBatches = new Map<DurableCollection, QueuedSearch[]>();
  private closed = false;

  private constructor(
    readonly dir: string,
    private readonly settings: Settings,
    private readonly aliases: AliasFile,
    private readonly unlock: () => void,
  ) {}

  static async open(options: EmbeddedOptions): Promise<EmbeddedVectorStore> {
    const settings = { ...DEFAULTS, ...stripUndefined(options) } as Settings & { dir: string };
    checkSettings(settings);
    const dir = resolve(options.dir);
    await mkdir(join(dir, 'collections'), { recursive: true });
    const unlock = acquireLock(join(dir, 'LOCK'), dir);
    try {
      // Leftovers of a create or drop that a crash interrupted.
      for (const entry of await readdir(join(dir, 'collections'))) {
        if (entry.endsWith('.creating') || entry.endsWith('.dropping')) {
          await removeQuietly(join(dir, 'collections', entry));
        }
      }
      const aliases = await AliasFile.load(join(dir, 'aliases.json'));
      return new EmbeddedVectorStore(dir, settings, aliases, unlock);
    } catch (err) {
      unlock();
      throw err;
    }
  }

  async ensureCollection(spec: CollectionSpec): Promise<void> {
    this.assertOpen();
    assertName(spec.name);
    checkSpec(spec);
    await this.queue.run(async () => {
      if (this.aliases.get(spec.name) !== undefined) {
        throw new InputError('VECTORS_NAME_TAKEN', `${spec.name} is an alias, not a collection`, {
          status: 409,
        });
      }
      const existing = await this.load(spec.name);
      if (existing) {
        const { dims, distance } = existing.meta;
        if (dims !== spec.dims || distance !== spec.distance) {
          throw new InputError(
            'VECTORS_COLLECTION_MISMATCH',
            `collection ${spec.name} exists with dims ${dims} and distance ${distance}, asked for ${spec.dims}/${spec.distance}`,
            { status: 409 },
          );
        }
        return;
      }
      const { dtype, connectivity, expansionAdd } = this.settings;
      const meta = {
        name: spec.name,
        dims: spec.dims,
        distance: spec.distance,
        dtype,
        connectivity,
        expansionAdd,
      };
      const created = DurableCollection.create(this.collectionDir(spec.name), meta, this.durability());
      this.loaded.set(spec.name, created);
      await created.catch((err: unknown) => {
        this.loaded.delete(spec.name);
        throw err;
      });
    });
  }

  async describeCollection(name: string): Promise<CollectionInfo | undefined> {
    this.assertOpen();
    assertName(name);
    const real = this.aliases.get(name) ?? name;
    const col = await this.load(real);
    if (!col) return undefined;
    return { name: real, dims: col.meta.dims, distance: col.meta.distance, count: col.mem.size };
  }

  async dropCollection(name: string): Promise<void> {
    this.assertOpen();
    assertName(name);
    await this.queue.run(async () => {
      if (this.aliases.get(name) !== undefined) {
        throw new InputError(
          'VECTORS_NAME_IS_ALIAS',
          `${name} is an alias: drop a collection by its own name`,
        );
      }
      const col = await this.load(name);
      if (!col) return;
      this.loaded.delete(name);
      await col.destroy();
      // Like Qdrant, aliases of a dropped collection go with it.
      if (Object.values(this.aliases.entries()).includes(name)) {
        await this.aliases.update((next) => {
          for (const [alias, target] of next) if (target === name) next.delete(alias);
        });
      }
    });
  }

  async upsert(collection: string, points: readonly Point[]): Promise<void> {
    this.assertOpen();
    const col = await this.existing(collection);
    const { dims, distance } = col.meta;
    const clean = checkPoints(points, dims, distance === 'cosine');
    const { batchSize, threads } = this.settings;
    for (let start = 0; start < clean.length; start += batchSize) {
      const batch = clean.slice(start, start + batchSize);
      const vectors = new Float32Array(batch.length * dims);
      batch.forEach((p, i) => {
        vectors.set(col.mem.prepare(p.vector), i * dims);
      });
      await this.queue.run(async () => {
        this.assertCurrent(col);
        await col.upsert(
          batch.map((p) => p.id),
          batch.map((p) => structuredClone(p.payload)),
          vectors,
          threads,
        );
      });
    }
  }

  async deleteByIds(collection: string, ids: readonly string[]): Promise<void> {
    this.assertOpen();
    const col = await this.existing(collection);
    const wanted = ids.map(normalizeId);
    await this.queue.run(async () => {
      this.assertCurrent(col);
      const slots = wanted.map((id) => col.mem.slotOf(id)).filter((s): s is number => s !== undefined);
      await col.deleteSlots(slots);
    });
  }

  async deleteByImage(collection: string, imageId: string): Promise<void> {
    this.assertOpen();
    if (typeof imageId !== 'string' || imageId === '') {
      throw new InputError('VECTORS_INVALID_FILTER', 'imageId must be a non-empty string');
    }
    const col = await this.existing(collection);
    await this.queue.run(async () => {
      this.assertCurrent(col);
      await col.deleteSlots(col.mem.slotsOfImage(imageId));
    });
  }

  async deleteByFilter(collection: string, filter: SearchFilter): Promise<void> {
    this.assertOpen();
    checkFilter(filter);
    if (!hasCondition(filter)) {
      throw new InputError(
        'VECTORS_EMPTY_FILTER',
        'deleteByFilter needs at least one condition (use dropCollection)',
      );
    }
    const col = await this.existing(collection);
    await this.queue.run(async () => {
      this.assertCurrent(col);
      await col.deleteSlots(col.mem.matchSlots(filter) ?? []);
    });
  }

  async search(collection: string, vector: Float32Array, options: SearchOptions): Promise<SearchHit[]> {
    this.assertOpen();
    checkSearchOptions(options);
    const col = await this.existing(collection);
    checkVector(vector, col.meta.dims, col.meta.distance === 'cosine', 'query');
    // Normalised (and so checked) here: a bad id fails its own call, not a batch.
    const excludeIds = (options.excludeIds ?? []).map(normalizeId);
    if (options.exact !== true && !hasCondition(options.filter)) {
      return this.searchBatched(col, { vector, k: options.k, excludeIds });
    }
    const exclude = excludedSlots(col, excludeIds);
    const hits = col.mem.search(
      vector,
      options.k,
      options.filter,
      exclude,
      options.exact === true,
      this.tuning(),
    );
    return toHits(col, hits);
  }

  async get(collection: string, ids: readonly string[]): Promise<StoredPoint[]> {
    this.assertOpen();
    const col = await this.existing(collection);
    const out: StoredPoint[] = [];
    for (const id of ids.map(normalizeId)) {
      const slot = col.mem.slotOf(id);
      if (slot === undefined) continue;
      out.push({ id, vector: col.mem.vectorAt(slot), payload: structuredClone(col.mem.payloadAt(slot)!) });
    }
    return out;
  }

  async count(collection: string, filter?: SearchFilter): Promise<number> {
    this.assertOpen();
    checkFilter(filter);
    const col = await this.existing(collection);
    return col.mem.matchSlots(filter)?.length ?? col.mem.size;
  }

  async swapAlias(alias: string, collection: string): Promise<{ previous: string | undefined }> {
    this.assertOpen();
    assertName(alias, 'alias');
    assertName(collection);
    return this.queue.run(async () => {
      if (this.aliases.get(collection) !== undefined) {
        throw new InputError(
          'VECTORS_INVALID_ALIAS',
          `${collection} is itself an alias; point at a collection`,
        );
      }
      if (!(await this.load(collection))) {
        throw new NotFoundError('VECTORS_COLLECTION_NOT_FOUND', `no vector collection ${collection}`);
      }
      if (await this.onDisk(alias)) {
        throw new InputError('VECTORS_NAME_TAKEN', `${alias} is a collection; an alias needs its own name`, {
          status: 409,
        });
      }
      const previous = this.aliases.get(alias);
      if (previous !== collection) await this.aliases.update((next) => next.set(alias, collection));
      return { previous };
    });
  }

  async getAlias(alias: string): Promise<string | undefined> {
    this.assertOpen();
    return this.aliases.get(alias);
  }

  async listAliases(): Promise<Record<string, string>> {
    this.assertOpen();
    return this.aliases.entries();
  }

  async deleteAlias(alias: string): Promise<void> {
    this.assertOpen();
    assertName(alias, 'alias');
    await this.queue.run(async () => {
      if (this.aliases.get(alias) !== undefined) await this.aliases.update((next) => next.delete(alias));
    });
  }

  /** Writes a snapshot of every loaded collection with pending log records. */
  async flush(): Promise<void> {
    this.assertOpen();
    await this.queue.run(async () => {
      for (const p of this.loaded.values()) await (await p)?.snapshot();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.queue.run(async () => {
        const errors: unknown[] = [];
        for (const p of this.loaded.values()) {
          try {
            await (await p)?.close();
          } catch (err) {
            errors.push(err);
          }
        }
        this.loaded.clear();
        if (errors.length > 0) throw errors[0];
      });
    } finally {
      this.unlock();
    }
  }

  private tuning(): SearchTuning {
    const { efSearch, exactThreshold, threads } = this.settings;
    return { efSearch, exactThreshold, threads };
  }

  /**
   * Unfiltered searches (the common case: by face, by photo) asked for in the same event-loop
   * turn, those of concurrent requests, go to usearch together, so they run on all cores instead
   * of one after another on this thread. A lone query waits one turn (microseconds). (Taking only
   * one query per core per turn, so that callers carry on sooner, measured slower: more turns
   * and more usearch calls, each starting its threads.)
   */
  private searchBatched(col: DurableCollection, search: UnfilteredSearch): Promise<SearchHit[]> {
    let batch = this.searchBatches.get(col);
    if (!batch) {
      batch = [];
      this.searchBatches.set(col, batch);
      setImmediate(() => this.runSearchBatch(col));
    }
    const queued = batch;
    return new Promise((resolve, reject) => queued.push({ ...search, resolve, reject }));
  }

  private runSearchBatch(col: DurableCollection): void {
    const batch = this.searchBatches.get(col)!;
    this.searchBatches.delete(col);
    try {
      this.assertCurrent(col);
      // Slots are resolved, searched and mapped back to ids in one synchronous step: a write
      // applied in between could free or reuse a slot.
      const answers = col.mem.searchMany(
        batch.map(({ vector, k, excludeIds }) => ({
          query: vector,
          k,
          exclude: excludedSlots(col, excludeIds),
        })),
        this.tuning(),
      );
      for (const [i, queued] of batch.entries()) queued.resolve(toHits(col, answers[i]!));
    } catch (err) {
      for (const queued of batch) queued.reject(err);
    }
  }

  private collectionDir(name: string): string {
    return join(this.dir, 'collections', name);
  }

  private async onDisk(name: string): Promise<boolean> {
    try {
      await stat(join(this.collectionDir(name), 'collection.json'));
      return true;
    } catch {
      return false;
    }
  }

  /** Opens a collection once (lazily: a big one costs a load); undefined when there is none. */
  private load(name: string): Promise<DurableCollection | undefined> {
    let p = this.loaded.get(name);
    if (!p) {
      p = this.onDisk(name).then((exists) =>
        exists ? DurableCollection.open(this.collectionDir(name), this.durability()) : undefined,
      );
      this.loaded.set(name, p);
      p.then(
        (col) => {
          if (!col && this.loaded.get(name) === p) this.loaded.delete(name);
        },
        () => {
          if (this.loaded.get(name) === p) this.loaded.delete(name);
        },
      );
    }
    return p;
  }

  private async existing(nameOrAlias: string): Promise<DurableCollection> {
    assertName(nameOrAlias);
    const col = await this.load(this.aliases.get(nameOrAlias) ?? nameOrAlias);
    if (!col)
      throw new NotFoundError('VECTORS_COLLECTION_NOT_FOUND', `no vector collection or alias ${nameOrAlias}`);
    return col;
  }

  /** A queued write whose collection was dropped meanwhile must not touch the deleted files. */
  private assertCurrent(col: DurableCollection): void {
    if (this.loaded.has(col.meta.name)) return;
    if (this.closed) throw closedError();
    throw new NotFoundError('VECTORS_COLLECTION_NOT_FOUND', `collection ${col.meta.name} was dropped`);
  }

  private assertOpen(): void {
    // Writes queued before close() still run (close waits for them); calls after it fail.
    if (this.closed) throw closedError();
  }

  private durability() {
    return { fsync: this.settings.fsync, snapshotMinLogBytes: this.settings.snapshotMinLogBytes };
  }
}

interface UnfilteredSearch {
  vector: Float32Array;
  k: number;
  excludeIds: readonly string[];
}

interface QueuedSearch extends UnfilteredSearch {
  resolve(hits: SearchHit[]): void;
  reject(err: unknown): void;
}

/** The slots of the (normalised) ids that are stored. */
function excludedSlots(col: DurableCollection, ids: readonly string[]): Set<number> {
  const slots = new Set<number>();
  for (const id of ids) {
    const slot = col.mem.slotOf(id);
    if (slot !== undefined) slots.add(slot);
  }
  return slots;
}

function toHits(col: DurableCollection, scored: readonly Scored[]): SearchHit[] {
  return scored.map(({ slot, score }) => ({
    id: col.mem.idAt(slot)!,
    score,
    payload: { ...col.mem.payloadAt(slot)! },
  }));
}

function closedError(): FeverError {
  return new FeverError('VECTORS_CLOSED', 'the vector store is closed');
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function checkSettings(s: Settings): void {
  const bad = (what: string) => new ConfigError('VECTORS_INVALID_OPTION', `embedded vector store: ${what}`);
  if (!['f32', 'f16', 'i8'].includes(s.dtype)) throw bad(`dtype must be f32, f16 or i8, got ${s.dtype}`);
  for (const key of ['connectivity', 'expansionAdd', 'efSearch', 'batchSize'] as const) {
    if (!Number.isInteger(s[key]) || s[key] < 1) throw bad(`${key} must be a positive integer`);
  }
  for (const key of ['exactThreshold', 'threads', 'snapshotMinLogBytes'] as const) {
    if (!Number.isInteger(s[key]) || s[key] < 0) throw bad(`${key} must be a non-negative integer`);
  }
}
