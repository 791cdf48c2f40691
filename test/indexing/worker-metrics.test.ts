/**
 * Indexing metrics, for real: a `fever worker` on Postgres and a private Redis serves /metrics on
 * the port FEVER_WORKER_METRICS_PORT=0 picked; an index run of the six face-api sample photos and
 * one truncated JPEG must move every counter by exactly what the run did, the queue depth must
 * read 0 afterwards (and be left out, not made up, while Redis is down), and SIGTERM must close
 * the endpoint. The in-process runner (embedded mode)
 * records the same series.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createLogger,
  createMetricsRegistry,
  IndexMetrics,
  openRuntime,
  QUEUE_STATES,
  type Runtime,
  STAGES,
  startIndexRun,
  stopIndexing,
  waitForRun,
} from '@fever/core';
import { brokenImages } from '@fever/core/testing';
import { samplePhotos } from '@fever/encoder/testing';
import type { IndexRun } from '@fever/metadata';
import { createTestDatabase, findTestPostgres, type TestDatabase } from '@fever/metadata/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  configFor,
  type FeverProcess,
  freePort,
  PrivateRedis,
  photoFolder,
  removeQuietly,
  sleep,
  startWorker,
  stopProcess,
  type TestEnv,
  tempDir,
} from '../harness/harness.ts';
import { parsePrometheus, Scrape } from '../harness/prometheus.ts';

const quiet = createLogger('warn', { test: 'metrics' });
const truncated = brokenImages(samplePhotos()[0]!).find((b) => b.code === 'IMAGE_TRUNCATED')!;

/** The six sample photos and one truncated JPEG: 7 entries, 6 indexed, 1 failed. */
function corpus(): { dir: string; entries: number } {
  const dir = photoFolder('metrics-photos', samplePhotos());
  writeFileSync(join(dir, truncated.name), truncated.bytes);
  return { dir, entries: samplePhotos().length + 1 };
}

/** Checks what every runner must have counted for `run`, indexed one entry per batch. */
function expectRunCounted(s: Scrape, run: IndexRun, batches: number): void {
  expect(s.sum('fever_index_images_total', { outcome: 'indexed' })).toBe(run.imagesIndexed);
  expect(s.sum('fever_index_images_total', { outcome: 'skipped' })).toBe(run.imagesSkipped);
  expect(s.sum('fever_index_images_total', { outcome: 'failed' })).toBe(run.imagesFailed);
  expect(s.sum('fever_index_image_failures_total', { code: 'IMAGE_TRUNCATED' })).toBe(1);
  expect(s.sum('fever_index_faces_total')).toBe(run.facesIndexed);
  expect(s.sum('fever_index_jobs_total', { stage: 'discover', outcome: 'completed' })).toBe(1);
  expect(s.sum('fever_index_jobs_total', { stage: 'embed', outcome: 'completed' })).toBe(batches);
  expect(s.sum('fever_index_jobs_total', { outcome: 'failed' })).toBe(0);
  expect(s.sum('fever_index_job_failures_total')).toBe(0);
  // Histograms: one observation per embed batch and step, per write batch with faces, per record.
  for (const step of ['read', 'decode', 'encode']) {
    expect(s.sum('fever_index_encoder_duration_seconds_count', { step }), step).toBe(batches);
  }
  expect(s.sum('fever_index_encoder_duration_seconds_sum', { step: 'encode' })).toBeGreaterThan(0);
  // One batch per entry: every sample photo's batch has faces to upsert, the truncated one's none.
  expect(s.sum('fever_index_vector_store_duration_seconds_count', { op: 'upsert' })).toBe(batches - 1);
  expect(s.sum('fever_index_vector_store_duration_seconds_count', { op: 'delete' })).toBe(0);
  expect(s.sum('fever_index_metadata_write_duration_seconds_count', { op: 'record' })).toBe(batches);
  expect(s.sum('fever_index_metadata_write_duration_seconds_count', { op: 'ledger' })).toBe(batches);
}

describe('worker metrics: fever worker on Postgres and a private Redis', () => {
  let redis: PrivateRedis;
  let db: TestDatabase;
  let root: string;
  let env: TestEnv;
  let photos: { dir: string; entries: number };
  let worker: FeverProcess;
  let url: string;

  beforeAll(async () => {
    const pg = await findTestPostgres();
    if (pg.url === undefined)
      throw new Error(`these tests need Postgres on 127.0.0.1:5432 (db test): ${pg.reason}`);
    redis = new PrivateRedis(await freePort());
    await redis.start();
    db = await createTestDatabase(pg.url);
    root = tempDir('metrics');
    env = {
      dataDir: join(root, 'data'),
      databaseUrl: db.url,
      redisUrl: redis.url,
      vars: { FEVER_WORKER_METRICS_PORT: '0' },
    };
    photos = corpus();
    // A long lock: a job re-run after a stall on a busy machine would be counted twice.
    worker = await startWorker(env, ['--lock-duration', '60000']);
    const found = /metrics on (http:\/\/\S+\/metrics)/.exec(worker.output());
    expect(found, worker.output()).not.toBeNull();
    url = found![1]!;
  });
  afterAll(async () => {
    if (worker) await stopProcess(worker, 'SIGKILL');
    await redis?.kill();
    await db?.drop();
    removeQuietly(root);
    removeQuietly(join(photos?.dir ?? '', '..'));
  });

  it('serves the queue depth (all 0) and process metrics before any work', async () => {
    const s = await Scrape.from(url);
    for (const stage of STAGES) {
      for (const state of QUEUE_STATES) {
        expect(s.all('fever_index_queue_jobs', { stage, state }), `${stage} ${state}`).toEqual([
          { name: 'fever_index_queue_jobs', labels: { stage, state }, value: 0 },
        ]);
      }
    }
    expect(s.sum('fever_index_jobs_total')).toBe(0);
    expect(s.has('fever_process_cpu_user_seconds_total')).toBe(true);
    const other = await fetch(url.replace(/\/metrics$/, '/nothing'));
    expect(other.status).toBe(404);
    expect(await other.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it('counts an index run exactly: jobs per stage, images, faces, latencies; the queues end empty', async () => {
    const runtime: Runtime = await openRuntime(configFor(env), { logger: quiet, vectors: 'none' });
    let run: IndexRun;
    try {
      const { runId } = await startIndexRun(runtime, { source: photos.dir, collection: 'metrics', batch: 1 });
      run = await waitForRun(runtime, runId);
      await stopIndexing(runtime);
    } finally {
      await runtime.close();
    }
    expect(run.status, `${run.errorCode}: ${run.errorMessage}`).toBe('succeeded');
    expect(run).toMatchObject({ imagesSeen: photos.entries, imagesIndexed: 6, imagesFailed: 1 });

    // The worker counts a job just after it ends, and the run may end inside the last one: wait
    // until the finalize job (one per run) has been counted and the queues are empty.
    const n = photos.entries;
    let s = await Scrape.from(url);
    for (let deadline = Date.now() + 15_000; Date.now() < deadline; await sleep(200)) {
      s = await Scrape.from(url);
      const queued = s.sum('fever_index_queue_jobs') - s.sum('fever_index_queue_jobs', { state: 'failed' });
      if (s.sum('fever_index_jobs_total', { stage: 'write' }) >= n + 1 && queued === 0) break;
    }
    // batch 1: one embed job per entry; one write job per embed job, plus the run's finalize job.
    expectRunCounted(s, run, n);
    expect(s.sum('fever_index_jobs_total', { stage: 'write', outcome: 'completed' })).toBe(n + 1);
    expect(s.sum('fever_index_jobs_total', { outcome: 'retried' })).toBe(0);
    expect(s.sum('fever_index_metadata_write_duration_seconds_count', { op: 'images' })).toBe(n);
    for (const stage of STAGES) {
      for (const state of QUEUE_STATES) {
        expect(s.sum('fever_index_queue_jobs', { stage, state }), `${stage} ${state}`).toBe(0);
      }
    }
  });

  it('answers a scrape while Redis is down, leaving the queue depth out until it is back', async () => {
    await redis.kill('SIGKILL');
    const t0 = performance.now();
    const down = await Scrape.from(url);
    expect(performance.now() - t0, 'the queue read gives up after 2 s').toBeLessThan(5_000);
    expect(down.all('fever_index_queue_jobs')).toEqual([]);
    expect(down.sum('fever_index_jobs_total', { stage: 'embed', outcome: 'completed' })).toBe(photos.entries);
    await redis.start();
    let up = down;
    for (let deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(500)) {
      up = await Scrape.from(url);
      if (up.has('fever_index_queue_jobs')) break;
    }
    expect(up.all('fever_index_queue_jobs')).toHaveLength(STAGES.length * QUEUE_STATES.length);
    expect(up.sum('fever_index_queue_jobs')).toBe(0);
  });

  it('closes the metrics endpoint when the worker stops on SIGTERM', async () => {
    worker.proc.kill('SIGTERM');
    const { code } = await worker.exited;
    expect(code, worker.output().slice(-2000)).toBe(0);
    expect(worker.output()).toContain('worker stopped cleanly');
    await expect(fetch(url)).rejects.toThrow();
  });
});

describe('in-process runner metrics (embedded mode)', () => {
  it('records the same series through the same interface', async () => {
    const root = tempDir('metrics-inprocess');
    const photos = corpus();
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const runtime = await openRuntime(configFor({ dataDir: join(root, 'data') }), {
      logger: quiet,
      vectors: 'open',
      metrics: new IndexMetrics(registry),
    });
    try {
      const { runId } = await startIndexRun(runtime, { source: photos.dir, collection: 'inproc', batch: 1 });
      const run = await waitForRun(runtime, runId);
      expect(run.status, `${run.errorCode}: ${run.errorMessage}`).toBe('succeeded');
      const s = new Scrape(parsePrometheus(await registry.metrics()));
      // Each entry's batch embedded and written once (no finalize job: the runner finalizes itself).
      expectRunCounted(s, run, photos.entries);
      expect(s.sum('fever_index_jobs_total', { stage: 'write', outcome: 'completed' })).toBe(photos.entries);
      // No queue here: the depth is not made up.
      expect(s.all('fever_index_queue_jobs')).toEqual([]);
    } finally {
      await stopIndexing(runtime);
      await runtime.close();
      removeQuietly(root);
      removeQuietly(join(photos.dir, '..'));
    }
  });
});
