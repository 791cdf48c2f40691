/**
 * A bounded async queue between two pipeline stages: push() waits while the queue is full
 * (back-pressure, so memory stays flat however large the source), iteration waits while it is
 * empty, and close() lets consumers finish what is queued and then stop.
 */
export class Channel<T> {
  private readonly items: T[] = [];
  private readonly takers: ((result: IteratorResult<T>) => void)[] = [];
  private readonly putters: (() => void)[] = [];
  private closed = false;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be ≥ 1');
  }

  get size(): number {
    return this.items.length;
  }

  /** Waits for room, then queues the item. Throws if the channel is closed. */
  async push(item: T): Promise<void> {
    while (!this.closed && this.items.length >= this.capacity) {
      await new Promise<void>((resolve) => this.putters.push(resolve));
    }
    if (this.closed) throw new Error('channel closed');
    const taker = this.takers.shift();
    if (taker) taker({ value: item, done: false });
    else this.items.push(item);
  }

  /** No more items: consumers drain what is queued, then their loops end. */
  close(): void {
    this.closed = true;
    for (const taker of this.takers.splice(0)) taker({ value: undefined, done: true });
    for (const putter of this.putters.splice(0)) putter();
  }

  /** Drops what is queued (after a fatal error) and closes. */
  discard(): void {
    this.items.length = 0;
    this.close();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) {
      const item = this.items.shift() as T;
      this.putters.shift()?.();
      return Promise.resolve({ value: item, done: false });
    }
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.takers.push(resolve));
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return { next: () => this.next() };
  }
}
