/**
 * Runs tasks one at a time in call order. Every write to the embedded store goes through one
 * queue, so concurrent upserts from the same process cannot interleave their log records, slot
 * allocation or snapshotting; reads do not queue (they see the state between two writes).
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Resolves once everything queued so far has finished. */
  drain(): Promise<void> {
    return this.run(async () => undefined);
  }
}
