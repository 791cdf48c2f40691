/**
 * A bounded map of rows whose entries expire (the least recently used go first when it is full),
 * filled by `load`. The misses of every caller in one event-loop turn (the hydrations of
 * concurrent requests) are loaded together, in one call: a query costs about the same for 1 row
 * as for 10 on PGlite (~1 ms of CPU, mostly fixed), and one round trip on Postgres. A key already
 * being loaded is waited for, not asked for again.
 */
export class RowCache<K extends string | number, V> {
  private readonly entries = new Map<K, { value: V; expires: number }>();
  private readonly loading = new Map<K, Promise<V | undefined>>();
  /** Keys to load in the next call, with the generation they were asked for in. */
  private batch: { generation: number; waiters: Map<K, Waiter<V>> } | undefined;
  /** Bumped by clear(): rows loaded before it are handed out but not kept. */
  private generation = 0;

  constructor(
    private readonly max: number,
    private readonly ttlMs: number,
    /** The rows for some keys (it may leave unknown ones out). */
    private readonly load: (keys: K[]) => Promise<[K, V][]>,
  ) {}

  /** The rows for `keys` that exist. */
  async getMany(keys: readonly K[]): Promise<Map<K, V>> {
    const out = new Map<K, V>();
    const waits: Promise<void>[] = [];
    const now = Date.now();
    for (const key of keys) {
      const entry = this.ttlMs > 0 ? this.entries.get(key) : undefined;
      if (entry && entry.expires > now) {
        this.entries.delete(key);
        this.entries.set(key, entry);
        out.set(key, entry.value);
      } else {
        waits.push(
          this.loadOne(key).then((value) => {
            if (value !== undefined) out.set(key, value);
          }),
        );
      }
    }
    if (waits.length > 0) await Promise.all(waits);
    return out;
  }

  clear(): void {
    this.entries.clear();
    this.generation++;
  }

  private loadOne(key: K): Promise<V | undefined> {
    let pending = this.loading.get(key);
    if (!pending) {
      if (!this.batch) {
        this.batch = { generation: this.generation, waiters: new Map() };
        // setImmediate, not a microtask: requests whose sockets were ready together all get
        // to their hydration (each runs to here without yielding) before the batch goes out.
        setImmediate(() => void this.flush());
      }
      const { waiters } = this.batch;
      pending = new Promise((resolve, reject) => waiters.set(key, { resolve, reject }));
      this.loading.set(key, pending);
    }
    return pending;
  }

  private async flush(): Promise<void> {
    const { generation, waiters } = this.batch!;
    this.batch = undefined;
    try {
      const rows = new Map(await this.load([...waiters.keys()]));
      const expires = Date.now() + this.ttlMs;
      const keep = this.ttlMs > 0 && generation === this.generation;
      for (const [key, waiter] of waiters) {
        const value = rows.get(key);
        if (keep && value !== undefined) this.entries.set(key, { value, expires });
        waiter.resolve(value);
      }
      for (const key of this.entries.keys()) {
        if (this.entries.size <= this.max) break;
        this.entries.delete(key);
      }
    } catch (err) {
      for (const waiter of waiters.values()) waiter.reject(err);
    } finally {
      for (const key of waiters.keys()) this.loading.delete(key);
    }
  }
}

interface Waiter<V> {
  resolve(value: V | undefined): void;
  reject(err: unknown): void;
}
