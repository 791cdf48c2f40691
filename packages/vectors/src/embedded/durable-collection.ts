import { mkdir, open, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { FeverError } from '@fever/errors';
import type { PointPayload } from '../types.ts';
import { type CollectionMeta, MemCollection } from './collection.ts';
import { atomicWriteFile, fsyncDir, removeQuietly } from './fsutil.ts';
import { readSnapshot, snapshotBytes, writeSnapshot } from './snapshot.ts';
import { replayWal, type WalRecord, WalWriter } from './wal.ts';

/**
 * A collection on disk: `collection.json` (its settings), `CURRENT` (the generation in use),
 * `snap-<gen>/` (the state at that generation, see snapshot.ts) and `wal-<gen>.log` (the writes
 * since). A snapshot writes generation gen+1 beside the old one and switches by an atomic rename
 * of CURRENT; only then are the old files removed. Whatever point a crash hits, the generation
 * CURRENT names is complete, and open() deletes leftovers of the other one.
 *
 * Callers serialise writes (store.ts); reads may run between them.
 */

export interface DurabilityOptions {
  /** fdatasync every write batch (default true): acknowledged writes survive power loss. */
  fsync: boolean;
  /** Snapshot once the log exceeds max(this, half the last snapshot), so rewrites amortise. */
  snapshotMinLogBytes: number;
}

export class DurableCollection {
  private constructor(
    readonly dir: string,
    readonly mem: MemCollection,
    private gen: number,
    private wal: WalWriter,
    private lastSnapshotBytes: number,
    private readonly durability: DurabilityOptions,
  ) {}

  get meta(): CollectionMeta {
    return this.mem.meta;
  }

  static async create(
    dir: string,
    meta: CollectionMeta,
    durability: DurabilityOptions,
  ): Promise<DurableCollection> {
    // Build in a temp dir and rename it into place: a half-created collection is never visible.
    const tmp = `${dir}.creating`;
    await removeQuietly(tmp);
    await mkdir(tmp, { recursive: true });
    await atomicWriteFile(
      join(tmp, 'collection.json'),
      `${JSON.stringify({ version: 1, ...meta }, null, 2)}\n`,
    );
    await atomicWriteFile(join(tmp, 'CURRENT'), '0\n');
    await rename(tmp, dir);
    await fsyncDir(join(dir, '..'));
    return DurableCollection.open(dir, durability);
  }

  static async readMeta(dir: string): Promise<CollectionMeta> {
    const raw = JSON.parse(await readFile(join(dir, 'collection.json'), 'utf8')) as CollectionMeta & {
      version?: number;
    };
    const { version: _version, ...meta } = raw;
    return meta;
  }

  static async open(dir: string, durability: DurabilityOptions): Promise<DurableCollection> {
    const meta = await DurableCollection.readMeta(dir);
    const gen = Number((await readFile(join(dir, 'CURRENT'), 'utf8')).trim());
    if (!Number.isSafeInteger(gen) || gen < 0) {
      throw new FeverError('VECTORS_CORRUPT', `${join(dir, 'CURRENT')} does not hold a generation number`);
    }
    for (const entry of await readdir(dir)) {
      const m = /^(?:snap-(\d+)(?:\.tmp)?|wal-(\d+)\.log)$/.exec(entry);
      const g = m ? Number(m[1] ?? m[2]) : undefined;
      if (g !== undefined && (g !== gen || entry.endsWith('.tmp'))) await removeQuietly(join(dir, entry));
    }
    const mem = new MemCollection(meta);
    let bytes = 0;
    if (gen > 0) {
      await readSnapshot(join(dir, `snap-${gen}`), mem);
      bytes = await snapshotBytes(join(dir, `snap-${gen}`));
    }
    const walPath = join(dir, `wal-${gen}.log`);
    await replayWal(walPath, (record) => apply(mem, record));
    const wal = await WalWriter.open(walPath);
    return new DurableCollection(dir, mem, gen, wal, bytes, durability);
  }

  /** Logs, then applies, one batch of prepared points (vectors back to back). */
  async upsert(
    ids: string[],
    payloads: PointPayload[],
    vectors: Float32Array,
    threads: number,
  ): Promise<void> {
    this.assertHealthy();
    const slots = this.mem.planSlots(ids);
    const record: WalRecord = { op: 'upsert', slots, ids, payloads, vectors };
    await this.wal.append(record, this.durability.fsync);
    this.mem.applyUpsert(slots, ids, payloads, vectors, threads);
    await this.maybeSnapshot();
  }

  async deleteSlots(slots: number[]): Promise<void> {
    this.assertHealthy();
    if (slots.length === 0) return;
    await this.wal.append({ op: 'delete', slots }, this.durability.fsync);
    this.mem.applyDelete(slots);
    await this.maybeSnapshot();
  }

  /** Folds the log into a new snapshot generation (no-op when nothing changed since the last). */
  async snapshot(): Promise<void> {
    this.assertHealthy();
    if (this.wal.bytes === 0) return;
    const next = this.gen + 1;
    const tmp = join(this.dir, `snap-${next}.tmp`);
    await removeQuietly(tmp);
    const bytes = await writeSnapshot(tmp, this.mem);
    await rename(tmp, join(this.dir, `snap-${next}`));
    const fh = await open(join(this.dir, `wal-${next}.log`), 'w');
    await fh.sync();
    await fh.close();
    await fsyncDir(this.dir);
    await atomicWriteFile(join(this.dir, 'CURRENT'), `${next}\n`); // the commit point
    await this.wal.close();
    this.wal = await WalWriter.open(join(this.dir, `wal-${next}.log`));
    await removeQuietly(join(this.dir, `snap-${this.gen}`));
    await removeQuietly(join(this.dir, `wal-${this.gen}.log`));
    this.gen = next;
    this.lastSnapshotBytes = bytes;
  }

  async close(): Promise<void> {
    try {
      if (!this.mem.failure) await this.snapshot();
    } finally {
      await this.wal.close();
    }
  }

  /** Closes the log and deletes the directory (rename first, so a crash leaves no half collection). */
  async destroy(): Promise<void> {
    await this.wal.close();
    const doomed = `${this.dir}.dropping`;
    await removeQuietly(doomed);
    await rename(this.dir, doomed);
    await fsyncDir(join(this.dir, '..'));
    await removeQuietly(doomed);
  }

  private async maybeSnapshot(): Promise<void> {
    if (this.wal.bytes > Math.max(this.durability.snapshotMinLogBytes, this.lastSnapshotBytes / 2)) {
      await this.snapshot();
    }
  }

  private assertHealthy(): void {
    if (this.mem.failure) {
      throw new FeverError(
        'VECTORS_COLLECTION_FAILED',
        `collection ${this.meta.name} failed an earlier write (${this.mem.failure.message}); reopen the store to recover from its log`,
        { status: 503 },
      );
    }
  }
}

function apply(mem: MemCollection, record: WalRecord): void {
  if (record.op === 'upsert') mem.applyUpsert(record.slots, record.ids, record.payloads, record.vectors, 0);
  else mem.applyDelete(record.slots);
}
