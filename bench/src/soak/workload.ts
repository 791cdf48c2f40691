/**
 * The soak's traffic against the API: searchers (by upload and by face id), an index run every
 * `runEvery` seconds on a growing set of photos, and the two dependency restarts; then the drain,
 * in which every run is followed to its end.
 */
import { linkSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { FINISHED_RUN_STATUSES } from '@fever/schema';
import type { PrivateRedis } from '@fever/test/harness';
import type { PrivatePostgres } from './postgres.ts';
import type { Outages } from './summary.ts';
import { Recorder, type RunRecord } from './traffic.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isFinished = (status: string) => (FINISHED_RUN_STATUSES as readonly string[]).includes(status);

export interface WorkloadSettings {
  api: string;
  collection: string;
  /** Seconds of traffic. */
  duration: number;
  searchers: number;
  thinkMs: number;
  /** Photos each run adds. */
  step: number;
  runEvery: number;
  /** Run folders are made here (FEVER_INDEX_ROOTS of the API). */
  photosRoot: string;
  /** Distinct photos in the order the runs take them. */
  pool: readonly string[];
  /** Encoded example photos the searchers upload. */
  uploads: readonly Uint8Array<ArrayBuffer>[];
  redis: PrivateRedis;
  pg: PrivatePostgres;
  /** Seconds since the traffic started. */
  elapsed: () => number;
}

export class Workload {
  readonly rec: Recorder;
  readonly runs: RunRecord[] = [];
  readonly events: { atS: number; event: string }[] = [];
  /** When each dependency was down: [stopped, up again] in seconds of traffic. */
  readonly outages: Outages = { Redis: undefined, Postgres: undefined };
  private stop = false;
  /** Face ids to search by: those the searches have returned so far. */
  private readonly faceIds: string[] = [];
  private readonly known = new Set<string>();
  private seed = 12345;

  constructor(private readonly s: WorkloadSettings) {
    this.rec = new Recorder(s.elapsed);
  }

  event(what: string): void {
    const atS = this.s.elapsed();
    this.events.push({ atS: Number(atS.toFixed(1)), event: what });
    console.log(`  ${atS.toFixed(1).padStart(6)} s  ${what}`);
  }

  /** Searches, index runs and the restarts for the duration; resolves once they have all stopped. */
  async run(): Promise<void> {
    const traffic = [
      ...Array.from({ length: this.s.searchers }, () => this.searcher()),
      this.indexer(),
      this.faults(),
    ];
    await sleep(this.s.duration * 1000);
    this.stop = true;
    await Promise.all(traffic);
  }

  /**
   * Every run finishes. A run whose writer (the API) was restarted after the run's last POST waits
   * for the next POST: the same request is sent again, as a client would (it resumes the same
   * run), when a run makes no progress for 30 s.
   */
  async drain(deadlineS: number): Promise<void> {
    const progress = new Map<string, { done: number; atS: number }>();
    const { elapsed } = this.s;
    for (;;) {
      const open = this.runs.filter((r) => !isFinished(r.status));
      if (open.length === 0 || elapsed() > deadlineS) break;
      for (const run of open) {
        await this.pollRun(run);
        const done =
          (run.counts?.imagesIndexed ?? 0) +
          (run.counts?.imagesSkipped ?? 0) +
          (run.counts?.imagesFailed ?? 0);
        const last = progress.get(run.id);
        if (!last || done > last.done) progress.set(run.id, { done, atS: elapsed() });
        else if (elapsed() - last.atS > 30 && !isFinished(run.status)) {
          const again = await this.startRun(run.source, run.files);
          if (again) {
            run.reposted++;
            this.event(
              `run ${run.id.slice(0, 8)} stalled at ${done}/${run.counts?.imagesSeen ?? '?'}: request sent again (${again.id === run.id ? 'resumed' : `new run ${again.id.slice(0, 8)}`})`,
            );
          }
          progress.set(run.id, { done, atS: elapsed() });
        }
      }
      await sleep(2000);
    }
  }

  private random(): number {
    this.seed = (this.seed * 1664525 + 1013904223) >>> 0;
    return this.seed / 2 ** 32;
  }

  private noteFaces(ids: string[]): void {
    for (const id of ids) {
      if (this.faceIds.length < 5000 && !this.known.has(id)) {
        this.known.add(id);
        this.faceIds.push(id);
      }
    }
  }

  private async searcher(): Promise<void> {
    const { api, uploads, thinkMs } = this.s;
    while (!this.stop) {
      if (this.faceIds.length === 0 || this.random() < 0.3) {
        const photo = uploads[Math.floor(this.random() * uploads.length)]!;
        const body = await this.rec.call<{ faces: { results: { id: string }[] }[] }>(
          'search by upload',
          `${api}/search?k=10`,
          {
            method: 'POST',
            body: photo,
            headers: { 'Content-Type': 'image/jpeg' },
          },
        );
        if (body) this.noteFaces(body.faces.flatMap((f) => f.results.map((r) => r.id)));
      } else {
        const id = this.faceIds[Math.floor(this.random() * this.faceIds.length)]!;
        const body = await this.rec.call<{ results: { id: string }[] }>(
          'search by face id',
          `${api}/faces/${id}/similar?k=10`,
        );
        if (body) this.noteFaces(body.results.map((r) => r.id));
      }
      await sleep(thinkMs);
    }
  }

  private async pollRun(run: RunRecord): Promise<void> {
    const body = await this.rec.call<{
      status: string;
      counts: RunRecord['counts'];
      error: RunRecord['error'];
    }>('run status', `${this.s.api}/runs/${run.id}`);
    if (body) {
      run.status = body.status;
      run.counts = body.counts;
      run.error = body.error;
    }
  }

  private async startRun(source: string, files: string[]): Promise<RunRecord | undefined> {
    const body = await this.rec.call<{ id: string; status: string }>(
      'start index run',
      `${this.s.api}/runs`,
      {
        method: 'POST',
        body: JSON.stringify({ source, collection: this.s.collection }),
        headers: { 'Content-Type': 'application/json' },
      },
    );
    if (!body) return undefined;
    return {
      id: body.id,
      source,
      files,
      startedAtS: Number(this.s.elapsed().toFixed(1)),
      status: body.status,
      reposted: 0,
    };
  }

  private async indexer(): Promise<void> {
    const { pool, step, photosRoot, runEvery, elapsed } = this.s;
    let size = 0;
    for (let k = 1; !this.stop; k++) {
      size = Math.min(pool.length, size + step);
      const source = join(photosRoot, `run-${String(k).padStart(3, '0')}`);
      mkdirSync(source);
      const files = pool.slice(0, size);
      for (const f of files) linkSync(f, join(source, basename(f)));
      let run: RunRecord | undefined;
      while (!run && !this.stop) {
        run = await this.startRun(source, files);
        if (!run) await sleep(2000);
      }
      if (!run) break;
      this.runs.push(run);
      this.event(`index run ${k} started: ${files.length} photos (${run.id.slice(0, 8)})`);
      // One run every `runEvery` seconds, whether the ones before have finished or not (then
      // they overlap); meanwhile, the unfinished ones are followed as a client would.
      const next = k * runEvery;
      while (!this.stop && elapsed() < next) {
        for (const r of this.runs) if (!isFinished(r.status)) await this.pollRun(r);
        await sleep(1000);
      }
    }
  }

  /** Redis killed (it comes back empty) at 35% of the time, Postgres restarted at 65%. */
  private async faults(): Promise<void> {
    const { duration, elapsed, redis, pg } = this.s;
    const wait = async (atS: number) => {
      while (!this.stop && elapsed() < atS) await sleep(200);
    };
    await wait(duration * 0.35);
    if (this.stop) return;
    const redisDown = elapsed();
    this.event('Redis: killed (SIGKILL), comes back empty in 2 s');
    await redis.kill('SIGKILL');
    await sleep(2000);
    await redis.start();
    this.outages.Redis = [redisDown, elapsed()];
    this.event('Redis: up again');
    await wait(duration * 0.65);
    if (this.stop) return;
    const pgDown = elapsed();
    this.event('Postgres: fast shutdown (every session disconnected), back in 3 s');
    await pg.stop('fast');
    await sleep(3000);
    await pg.start();
    this.outages.Postgres = [pgDown, elapsed()];
    this.event('Postgres: up again');
  }
}
