import type { FaceFailure } from '../embed/faces.ts';
import type { MissingReason } from './resolve-images.ts';
import { type FecReport, MAX_LISTED } from './result.ts';

type Reason = MissingReason | FaceFailure['reason'];

/** Image and face failures of a run: all counted per reason, the first MAX_LISTED listed. */
export class FailureLog {
  readonly failed: Partial<Record<Reason, number>> = {};
  readonly failures: FecReport['images']['failures'] = [];

  note(url: string, reason: Reason, detail: string): void {
    this.failed[reason] = (this.failed[reason] ?? 0) + 1;
    if (this.failures.length < MAX_LISTED) this.failures.push({ url, reason, detail });
  }

  get notListed(): number {
    return Object.values(this.failed).reduce((a, b) => a + b, 0) - this.failures.length;
  }
}
