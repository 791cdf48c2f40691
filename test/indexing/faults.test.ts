/**
 * Fault tests: broken files among good ones; a worker killed with SIGKILL again and again; Redis
 * restarted (empty) mid-run; Postgres connections terminated mid-run; `fever index` stopped with
 * SIGTERM (drain) and with SIGKILL, then run again (resume). Each ends with exact counts: every
 * image indexed exactly once, metadata and vectors in agreement.
 *
 * The photos are distinct crops and flips of face-api's sample photos, so these tests need no
 * ../shared data.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import {
  createLogger,
  openRuntime,
  type Runtime,
  startIndexRun,
  stopIndexing,
  waitForRun,
  withRetry,
} from '@fever/core';
import { brokenImages, writeTar, writeZip } from '@fever/core/testing';
import { samplePhotos } from '@fever/encoder/testing';
import type { IndexRun, MetadataStore } from '@fever/metadata';
import { createTestDatabase, findTestPostgres, type TestDatabase } from '@fever/metadata/testing';
import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  collectionState,
  configFor,
  distinctContents,
  fever,
  freePort,
  listFile,
  openStores,
  PrivateRedis,
  removeQuietly,
  runFever,
  sleep,
  startWorker,
  stopProcess,
  type TestEnv,
  tempDir,
} from '../harness/harness.ts';
import { makeDistinctPhotos } from '../harness/photos.ts';

const quiet = createLogger('warn', { test: 'faults' });

/** A small deterministic random source (the kill points differ per seed, and are logged). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

let pgAdminUrl: string;
beforeAll(async () => {
  const pg = await findTestPostgres();
  if (pg.url === undefined)
    throw new Error(`these tests need Postgres on 127.0.0.1:5432 (db test): ${pg.reason}`);
  pgAdminUrl = pg.url;
});

async function postgresEnv(name: string, redisUrl?: string): Promise<{ env: TestEnv; db: TestDatabase }> {
  const db = await createTestDatabase(pgAdminUrl);
  const dir = tempDir(name);
  cleanup.push(async () => {
    await db.drop();
    removeQuietly(dir);
  });
  return { db, env: { dataDir: join(dir, 'data'), databaseUrl: db.url, ...(redisUrl ? { redisUrl } : {}) } };
}

async function photos(name: string, count: number): Promise<{ dir: string; files: string[] }> {
  const root = tempDir(name);
  cleanup.push(() => removeQuietly(root));
  const dir = join(root, 'photos');
  const files = await makeDistinctPhotos(dir, count, samplePhotos());
  return { dir, files };
}

async function done(metadata: MetadataStore, runId: string): Promise<IndexRun> {
  return withRetry(() => metadata.indexRuns.require(runId), { attempts: 20 });
}

const progress = (r: IndexRun) => r.imagesIndexed + r.imagesSkipped + r.imagesFailed;

async function waitUntil(
  runtime: Runtime,
  runId: string,
  pred: (r: IndexRun) => boolean,
  timeoutMs = 180_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await done(runtime.metadata, runId);
    if (pred(run)) return run;
    if (Date.now() > deadline)
      throw new Error(`timed out; run at ${progress(run)}/${run.imagesSeen} (${run.status})`);
    await sleep(200);
  }
}

/** Exactly once: every entry has one outcome, counters equal the ledger, faces equal vectors. */
async function expectExact(env: TestEnv, runId: string, files: readonly string[], collection: string) {
  const stores = await openStores(env);
  try {
    const run = await stores.metadata.indexRuns.require(runId);
    const distinct = distinctContents(files);
    expect(run.status).toBe('succeeded');
    expect(run.imagesSeen).toBe(files.length);
    expect(run.imagesFailed).toBe(0);
    expect(run.imagesIndexed).toBe(distinct);
    expect(run.imagesSkipped).toBe(files.length - distinct);
    expect(await stores.metadata.indexing.countEntries(runId)).toEqual({
      pending: 0,
      indexed: distinct,
      skipped: files.length - distinct,
      failed: 0,
    });
    const state = await collectionState(stores.metadata, stores.vectors, collection);
    expect(state.embedded).toBe(distinct);
    expect(state.faceIds.length, 'faces counted once each').toBe(run.facesIndexed);
    expect(state.vectorCount, 'one vector per face, no strays').toBe(state.faceIds.length);
    expect(state.vectorsFound).toBe(state.faceIds.length);
    expect(state.faceIds.length).toBeGreaterThan(0);
    return run;
  } finally {
    await stores.close();
  }
}

describe('broken input', () => {
  let runtime: Runtime;
  let root: string;
  const good = samplePhotos();
  const broken = brokenImages(good[0]!);

  beforeAll(async () => {
    root = tempDir('broken');
    runtime = await openRuntime(configFor({ dataDir: join(root, 'data') }), {
      logger: quiet,
      vectors: 'open',
    });
  });
  afterAll(async () => {
    await stopIndexing(runtime);
    await runtime.close();
    removeQuietly(root);
  });

  async function index(source: string, collection: string) {
    const { runId } = await startIndexRun(runtime, { source, collection, batch: 4 });
    const run = await waitForRun(runtime, runId);
    const failures = await runtime.metadata.indexing.listEntries(runId, { outcome: 'failed', limit: 1000 });
    return { run, failures };
  }

  function expectFailures(
    failures: { uri: string; errorCode: string | null; errorMessage: string | null }[],
  ) {
    const byName = Object.fromEntries(failures.map((f) => [basename(f.uri), f.errorCode]));
    expect(byName).toEqual(Object.fromEntries(broken.map((b) => [b.name, b.code])));
    for (const f of failures) expect(f.errorMessage).toContain(basename(f.uri));
  }

  it('records each broken file with its reason; every good image is indexed', async () => {
    const dir = join(root, 'mixed');
    mkdirSync(join(dir, 'deeper'), { recursive: true });
    good.forEach((g, i) => {
      writeFileSync(join(dir, i % 2 ? 'deeper' : '', basename(g)), readBytes(g));
    });
    for (const b of broken) writeFileSync(join(dir, b.name), b.bytes);
    writeFileSync(join(dir, 'notes.txt'), 'not a photo'); // not an image name: never discovered
    const { run, failures } = await index(dir, 'mixed');
    expect(run).toMatchObject({ status: 'succeeded', imagesSeen: good.length + broken.length });
    expect(run.imagesIndexed).toBe(good.length);
    expect(run.imagesFailed).toBe(broken.length);
    expect(run.facesIndexed).toBeGreaterThanOrEqual(15);
    expectFailures(failures);
    const c = await runtime.metadata.collections.require('mixed');
    expect(await runtime.metadata.images.countByStatus(c.id)).toEqual({
      pending: 0,
      indexed: good.length,
      failed: broken.length,
    });
  });

  it('the same from a zip, a tar.gz and a list file (with a missing path)', async () => {
    const members = [
      ...good.map((g) => ({ name: `photos/${basename(g)}`, bytes: readBytes(g) })),
      ...broken.map((b) => ({ name: `photos/bad/${b.name}`, bytes: b.bytes })),
    ];
    const zip = join(root, 'mixed.zip');
    const tgz = join(root, 'mixed.tar.gz');
    await writeZip(zip, members);
    await writeTar(tgz, members, { gzip: true });
    for (const [source, collection] of [
      [zip, 'zip'],
      [tgz, 'tgz'],
    ] as const) {
      const { run, failures } = await index(source, collection);
      expect(run).toMatchObject({
        status: 'succeeded',
        imagesIndexed: good.length,
        imagesFailed: broken.length,
      });
      expectFailures(failures);
      for (const f of failures) expect(f.uri.startsWith(`${source}!/photos/bad/`)).toBe(true);
    }
    const badDir = join(root, 'bad-files');
    mkdirSync(badDir);
    for (const b of broken) writeFileSync(join(badDir, b.name), b.bytes);
    const list = listFile(root, [
      ...good,
      ...broken.map((b) => join(badDir, b.name)),
      join(root, 'gone', 'missing.jpg'),
    ]);
    const { run, failures } = await index(list, 'list');
    expect(run).toMatchObject({
      status: 'succeeded',
      imagesIndexed: good.length,
      imagesFailed: broken.length + 1,
    });
    const missing = failures.find((f) => f.uri.endsWith('missing.jpg'));
    expect(missing?.errorCode).toBe('IMAGE_NOT_FOUND');
    expectFailures(failures.filter((f) => f !== missing));
  });
});

describe('process and dependency failures', () => {
  it('a worker killed with SIGKILL at random points, then restarted, indexes every image exactly once', async () => {
    const { env } = await postgresEnv('kill', 'redis://127.0.0.1:6379');
    // Enough photos that three kills land mid-run even on an idle machine (~25 photos/s).
    const { dir, files } = await photos('kill', 120);
    const runtime = await openRuntime(configFor(env), { logger: quiet, vectors: 'none' });
    cleanup.push(() => runtime.close());
    const { runId } = await startIndexRun(runtime, { source: dir, collection: 'kill', batch: 2 });
    const rnd = random(Number(process.env.FEVER_TEST_SEED ?? Date.now() % 100_000));
    const killedAt: number[] = [];
    for (let k = 0; k < 3; k++) {
      const worker = await startWorker(env, ['--concurrency', '2']);
      cleanup.push(() => stopProcess(worker, 'SIGKILL'));
      // Kill while it works: after its first recorded batch, at a random moment within ~0.6 s.
      const base = progress(await done(runtime.metadata, runId));
      const now = await waitUntil(runtime, runId, (r) => progress(r) > base || r.status !== 'running');
      if (now.status !== 'running') break;
      await sleep(rnd() * 600);
      worker.proc.kill('SIGKILL');
      await worker.exited;
      killedAt.push(progress(await done(runtime.metadata, runId)));
    }
    console.info(`SIGKILL after ${killedAt.join(', ')} of ${files.length} images`);
    expect(killedAt.length, 'every kill landed mid-run').toBe(3);
    expect(killedAt.at(-1)).toBeLessThan(files.length);
    const last = await startWorker(env);
    cleanup.push(() => stopProcess(last, 'SIGKILL'));
    await waitUntil(runtime, runId, (r) => r.status !== 'running');
    await stopProcess(last, 'SIGTERM');
    await expectExact(env, runId, files, 'kill');
  });

  it('Redis restarted (empty) mid-run: the run is re-driven from the ledger and completes exactly', async () => {
    const redis = new PrivateRedis(await freePort());
    await redis.start();
    cleanup.push(() => redis.kill());
    const { env } = await postgresEnv('redis', redis.url);
    const { dir, files } = await photos('redis', 60);
    const worker = await startWorker(env);
    cleanup.push(() => stopProcess(worker, 'SIGKILL'));
    const runtime = await openRuntime(configFor(env), { logger: quiet, vectors: 'none' });
    cleanup.push(() => runtime.close());
    const { runId } = await startIndexRun(runtime, { source: dir, collection: 'redis', batch: 2 });
    const before = await waitUntil(runtime, runId, (r) => progress(r) >= 6);
    await redis.kill('SIGKILL');
    await sleep(1500);
    await redis.start();
    console.info(`Redis killed and restarted empty after ${progress(before)} of ${files.length} images`);
    expect(progress(before)).toBeLessThan(files.length);
    await waitUntil(runtime, runId, (r) => r.status !== 'running');
    expect(worker.output()).toContain('re-driving it from the ledger');
    await stopIndexing(runtime);
    await stopProcess(worker, 'SIGTERM');
    await expectExact(env, runId, files, 'redis');
  });

  it('Postgres connections terminated mid-run: the run completes exactly', async () => {
    const { env } = await postgresEnv('pgdrop', 'redis://127.0.0.1:6379');
    // The worker's connections carry their own application_name: only they are terminated.
    const workerEnv: TestEnv = { ...env, vars: { PGAPPNAME: 'fever-worker-under-test' } };
    const { dir, files } = await photos('pgdrop', 60);
    let worker = await startWorker(workerEnv);
    let stopped = false;
    let restarts = 0;
    // As a supervisor (docker's restart policy, systemd) would: a worker that dies is started again.
    const supervising = (async () => {
      while (!stopped) {
        await worker.exited;
        if (stopped) return;
        restarts++;
        worker = await startWorker(workerEnv);
      }
    })();
    cleanup.push(async () => {
      stopped = true;
      await stopProcess(worker, 'SIGKILL');
      await supervising.catch(() => {});
    });
    const runtime = await openRuntime(configFor(env), { logger: quiet, vectors: 'none' });
    cleanup.push(() => runtime.close());
    const { runId } = await startIndexRun(runtime, { source: dir, collection: 'pgdrop', batch: 2 });
    const admin = postgres(pgAdminUrl, { max: 1, onnotice: () => {} });
    let terminated = 0;
    try {
      for (const at of [4, 16, 30]) {
        await waitUntil(runtime, runId, (r) => progress(r) >= at || r.status !== 'running');
        const rows = await admin`
          SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
          WHERE application_name = 'fever-worker-under-test'`;
        terminated += rows.filter((r) => r.ok).length;
      }
    } finally {
      await admin.end();
    }
    console.info(
      `terminated ${terminated} Postgres connections of the worker; it was restarted ${restarts} times`,
    );
    expect(terminated).toBeGreaterThan(0);
    const run = await waitUntil(runtime, runId, (r) => r.status !== 'running');
    expect(run.status, `${run.errorCode}: ${run.errorMessage}`).toBe('succeeded');
    stopped = true;
    await stopProcess(worker, 'SIGTERM');
    await expectExact(env, runId, files, 'pgdrop');
  });

  it('fever index drains on SIGTERM, and after SIGKILL the same command resumes the run', async () => {
    const root = tempDir('resume');
    cleanup.push(() => removeQuietly(root));
    const env: TestEnv = { dataDir: join(root, 'data') };
    const { dir, files } = await photos('resume', 200);
    const args = ['index', dir, '--collection', 'resume', '--batch', '4'];

    const first = fever(args, env);
    cleanup.push(() => stopProcess(first, 'SIGKILL'));
    await first.waitFor(/fever: run [0-9a-f-]{36}/);
    await sleep(1000);
    first.proc.kill('SIGTERM');
    const stopped = await first.exited;
    expect(stopped.code, first.output().slice(-2000)).toBe(130);
    expect(first.output()).toContain('stopping: finishing the images in hand');
    const runId = /fever: run ([0-9a-f-]{36})/.exec(first.output())![1]!;
    const drained = await openStores(env);
    try {
      const run = await drained.metadata.indexRuns.require(runId);
      expect(run.status).toBe('running');
      expect(progress(run)).toBeLessThan(files.length);
      // Drained: everything discovered before the signal has its outcome.
      expect((await drained.metadata.indexing.countEntries(runId)).pending).toBe(0);
    } finally {
      await drained.close();
    }

    const second = fever(args, env);
    cleanup.push(() => stopProcess(second, 'SIGKILL'));
    await second.waitFor('resuming an unfinished run');
    await sleep(1000 + Math.random() * 1500);
    second.proc.kill('SIGKILL');
    await second.exited;
    // The kill must land mid-run, or there is nothing left to resume: hence 200 photos, ≥ 5 s
    // of work at twice the rate this machine indexes them.
    expect(second.output(), 'the second run finished before it was killed').not.toContain('succeeded');

    const third = await runFever(args, env);
    expect(third.code, third.output.slice(-3000)).toBe(0);
    expect(third.output).toContain(`run ${runId} (resuming an unfinished run)`);
    expect(third.output).toContain(`run ${runId} succeeded`);
    await expectExact(env, runId, files, 'resume');
  });
});

function readBytes(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path));
}
