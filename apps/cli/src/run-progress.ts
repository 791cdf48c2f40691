import type { IndexRun } from '@fever/metadata';

/** Images with an outcome so far. */
export function doneCount(run: IndexRun): number {
  return run.imagesIndexed + run.imagesSkipped + run.imagesFailed;
}

/** Images per second over the run's life (to its end, or now). */
export function throughput(run: IndexRun, now = Date.now()): number | undefined {
  if (!run.startedAt) return undefined;
  const end = run.finishedAt?.valueOf() ?? now;
  const seconds = (end - run.startedAt.valueOf()) / 1000;
  return seconds > 0 ? doneCount(run) / seconds : undefined;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/**
 * Shows an index run's progress on a stream: a bar redrawn in place on a terminal (images/s,
 * faces, failures, ETA), or a plain line every `everyMs` otherwise (logs, CI).
 */
export class RunProgress {
  private readonly samples: { t: number; done: number }[] = [];
  private lastLine = 0;
  private drawn = false;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly options: { tty?: boolean; everyMs?: number } = {},
  ) {}

  private get tty(): boolean {
    return this.options.tty ?? Boolean(this.out.isTTY);
  }

  /** Images/s over the last ~10 s (the whole run's rate until there is a window). */
  private rate(run: IndexRun, now: number): number | undefined {
    const done = doneCount(run);
    this.samples.push({ t: now, done });
    while (this.samples.length > 2 && now - this.samples[0]!.t > 10_000) this.samples.shift();
    const first = this.samples[0]!;
    const dt = (now - first.t) / 1000;
    if (dt >= 2) return (done - first.done) / dt;
    return throughput(run, now);
  }

  describe(run: IndexRun, now = Date.now()): string {
    const done = doneCount(run);
    const total = run.imagesSeen;
    const discovering = run.discoveredAt === null;
    const rate = this.rate(run, now);
    const remaining = total - done;
    const eta =
      !discovering && rate && rate > 0 ? formatDuration(remaining / rate) : discovering ? 'discovering' : '?';
    const pct = total > 0 ? Math.floor((100 * done) / total) : 0;
    const parts = [
      `${done}/${total}${discovering ? '+' : ''} images`,
      `${pct}%`,
      `${rate === undefined ? '?' : rate.toFixed(1)} img/s`,
      `${run.facesIndexed} faces`,
      `${run.imagesFailed} failed`,
      `ETA ${eta}`,
    ];
    if (run.errorCode && run.status === 'running') parts.push(`retrying: ${run.errorCode}`);
    return parts.join('  ');
  }

  update(run: IndexRun): void {
    const now = Date.now();
    const text = this.describe(run, now);
    if (this.tty) {
      const width = Math.max(10, Math.min(30, (this.out.columns ?? 80) - text.length - 6));
      const total = run.imagesSeen;
      const filled = total > 0 ? Math.round((width * doneCount(run)) / total) : 0;
      const bar = `[${'#'.repeat(filled)}${'-'.repeat(Math.max(0, width - filled))}]`;
      this.out.write(`\r\u001b[2K${bar} ${text}`);
      this.drawn = true;
    } else if (now - this.lastLine >= (this.options.everyMs ?? 10_000)) {
      this.lastLine = now;
      this.out.write(`fever: ${text}\n`);
    }
  }

  /** Ends the bar (a newline) so what follows starts on its own line. */
  finish(run: IndexRun): void {
    if (this.tty) {
      this.update(run);
      if (this.drawn) this.out.write('\n');
    } else {
      this.lastLine = 0;
      this.update(run);
    }
  }
}
