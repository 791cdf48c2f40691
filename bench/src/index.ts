/**
 * `npm run bench -- index [--photos=2000] [--batch=16] [--concurrency=2] [--no-bullmq]`
 *
 * End-to-end indexing throughput on ≥ 2,000 distinct photos (crops, flips and rescales of the
 * face-api sample photos and the muxspace photos, written to a temp folder), next to the
 * encoder-only throughput on the same photos measured in the same run:
 *
 * - encoder only: read + decode + Encoder.encode (detect + embed), batched and overlapped
 *   exactly as the pipeline's embed stage does it (same batch, same concurrency), no storage.
 * - embedded: `fever index` (PGlite + usearch, in-process runner), one process.
 * - bullmq ×N: Postgres + Redis with N `fever worker` processes (one of them writes vectors).
 *
 * Throughput is measured over the run's own clock (started → finished in index_runs), so
 * process start and model loading are left out of every row alike. Pipeline efficiency =
 * end-to-end photos/s ÷ encoder-only photos/s. Peak RSS is the kernel's high-water mark
 * (VmHWM) of each process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeImage, Encoder, type RgbImage, sha256File } from '@fever/encoder';
import { samplePhotos, sharedData } from '@fever/encoder/testing';
import { openMetadataStore } from '@fever/metadata';
import { createTestDatabase, findTestPostgres } from '@fever/metadata/testing';
import { CLI, makeDistinctPhotos } from '@fever/test/harness';
import { table, writeResults } from './report.ts';

const quiet = { info() {}, warn() {} };

function arg(args: string[], name: string, fallback: number): number {
  const v = args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  return v === undefined ? fallback : Number(v);
}

/** Peak RSS (VmHWM) of a live process, in MB; 0 once it is gone. */
function peakRss(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

interface Proc {
  child: ChildProcess;
  out: () => string;
  peak: () => number;
  exited: Promise<number | null>;
  waitFor: (text: string) => Promise<void>;
}

function start(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let peak = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, peakRss(child.pid!));
  }, 200);
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      clearInterval(timer);
      resolve(code);
    }),
  );
  return {
    child,
    out: () => out,
    peak: () => Math.max(peak, peakRss(child.pid!)),
    exited,
    async waitFor(text) {
      while (!out.includes(text)) {
        if (child.exitCode !== null) throw new Error(`process exited before '${text}':\n${out.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}

function envOf(extra: Record<string, string | undefined>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  for (const k of ['DATABASE_URL', 'REDIS_URL', 'QDRANT_URL']) delete env[k];
  env.FEVER_LOG_LEVEL = 'warn';
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

interface Row {
  mode: string;
  photos: number;
  faces: number;
  seconds: number;
  peakRssMb: number;
}

async function encoderOnly(files: string[], batch: number, concurrency: number): Promise<Row> {
  const encoder = await Encoder.create({ device: 'cpu', logger: quiet });
  await encoder.encode([await decodeImage(files[0]!)]); // warm-up
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 100);
  let faces = 0;
  let next = 0;
  const t0 = performance.now();
  // The embed stage's work: read, decode 4 at a time, encode the batch; `concurrency` batches in flight.
  const worker = async () => {
    while (next < files.length) {
      const chunk = files.slice(next, next + batch);
      next += batch;
      const images: RgbImage[] = [];
      for (let i = 0; i < chunk.length; i += 4) {
        images.push(
          ...(await Promise.all(chunk.slice(i, i + 4).map(async (f) => decodeImage(await readFile(f))))),
        );
      }
      const found = (await encoder.encode(images)).reduce((n, f) => n + f.length, 0);
      faces += found;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  await encoder.close();
  return {
    mode: `encoder only (batch ${batch} ×${concurrency})`,
    photos: files.length,
    faces,
    seconds,
    peakRssMb: peak / 2 ** 20,
  };
}

async function runStats(databaseUrl: string | undefined, dataDir: string, runId: string) {
  const metadata = await openMetadataStore(
    databaseUrl
      ? { driver: 'postgres', url: databaseUrl }
      : { driver: 'pglite', dataDir: join(dataDir, 'metadata') },
  );
  try {
    const run = await metadata.indexRuns.require(runId);
    if (run.status !== 'succeeded') throw new Error(`run ${runId} ended ${run.status}: ${run.errorMessage}`);
    const seconds = (run.finishedAt!.valueOf() - run.startedAt!.valueOf()) / 1000;
    return { run, seconds };
  } finally {
    await metadata.close();
  }
}

async function embedded(dir: string, root: string, batch: number, concurrency: number): Promise<Row> {
  const dataDir = join(root, 'embedded');
  const p = start(
    ['index', dir, '--collection', 'bench', `--batch=${batch}`, `--concurrency=${concurrency}`],
    envOf({ FEVER_DATA_DIR: dataDir }),
  );
  const code = await p.exited;
  if (code !== 0) throw new Error(`fever index failed:\n${p.out().slice(-3000)}`);
  const runId = /run ([0-9a-f-]{36}) succeeded/.exec(p.out())![1]!;
  const { run, seconds } = await runStats(undefined, dataDir, runId);
  return {
    mode: 'embedded (in-process)',
    photos: run.imagesSeen,
    faces: run.facesIndexed,
    seconds,
    peakRssMb: p.peak(),
  };
}

async function bullmq(
  dir: string,
  root: string,
  workers: number,
  batch: number,
  concurrency: number,
): Promise<Row> {
  const pg = await findTestPostgres();
  if (pg.url === undefined) throw new Error(`BullMQ rows need Postgres: ${pg.reason}`);
  const db = await createTestDatabase(pg.url);
  const env = envOf({
    FEVER_DATA_DIR: join(root, `bullmq-${workers}`),
    DATABASE_URL: db.url,
    REDIS_URL: process.env.FEVER_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
  });
  const procs: Proc[] = [];
  try {
    for (let i = 0; i < workers; i++) {
      const w = start(['worker', `--concurrency=${concurrency}`], { ...env, FEVER_LOG_LEVEL: 'info' });
      procs.push(w);
      await w.waitFor('worker ready');
    }
    const coordinator = start(['index', dir, '--collection', 'bench', `--batch=${batch}`], env);
    const code = await coordinator.exited;
    if (code !== 0) throw new Error(`fever index failed:\n${coordinator.out().slice(-3000)}`);
    const runId = /run ([0-9a-f-]{36}) succeeded/.exec(coordinator.out())![1]!;
    const peaks = procs.map((w) => w.peak());
    for (const w of procs) w.child.kill('SIGTERM');
    await Promise.all(procs.map((w) => w.exited));
    const { run, seconds } = await runStats(db.url, '', runId);
    return {
      mode: `bullmq ×${workers} worker${workers > 1 ? 's' : ''}`,
      photos: run.imagesSeen,
      faces: run.facesIndexed,
      seconds,
      peakRssMb: Math.max(...peaks),
    };
  } finally {
    for (const w of procs) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await db.drop();
  }
}

export default async function indexBench(args: string[]) {
  const count = arg(args, 'photos', 2000);
  const batch = arg(args, 'batch', 16);
  const concurrency = arg(args, 'concurrency', 2);
  const withBull = !args.includes('--no-bullmq');
  const root = join(tmpdir(), `fever-bench-index-${process.pid}`);
  const dir = join(root, 'photos');
  await mkdir(dir, { recursive: true });
  try {
    // Half from the six group photos (many faces each), half from muxspace (one face each, small).
    const mux = sharedData('muxspace');
    const muxFiles = mux
      ? readFileSync(join(mux, 'labels.csv'), 'utf8')
          .split('\n')
          .slice(1)
          .map((l) => l.split(',')[0])
          .filter((p): p is string => Boolean(p))
          .map((p) => join(mux, p))
      : [];
    const fromSamples = muxFiles.length > 0 ? Math.ceil(count / 2) : count;
    const t0 = performance.now();
    const files = [
      ...(await makeDistinctPhotos(dir, fromSamples, samplePhotos(), 's')),
      ...(muxFiles.length > 0 ? await makeDistinctPhotos(dir, count - fromSamples, muxFiles, 'm') : []),
    ];
    const distinct = new Set(await Promise.all(files.map((f) => sha256File(f))));
    console.log(
      `${files.length} photos (${distinct.size} distinct) made in ${((performance.now() - t0) / 1000).toFixed(1)} s under ${dir}`,
    );
    if (distinct.size < files.length) throw new Error('photos are not all distinct');

    const rows: Row[] = [];
    // The reference, on every other photo (the same mix), before and after the pipelines: on a
    // shared machine the load drifts, and the mean of the two is fairer than either.
    const half = files.filter((_, i) => i % 2 === 0);
    const before = await encoderOnly(half, batch, concurrency);
    console.log(`encoder only (before): ${(before.photos / before.seconds).toFixed(1)} photos/s`);
    rows.push(await embedded(dir, root, batch, concurrency));
    console.log(`embedded: ${(rows.at(-1)!.photos / rows.at(-1)!.seconds).toFixed(1)} photos/s`);
    if (withBull) {
      for (const n of [1, 2]) {
        rows.push(await bullmq(dir, root, n, batch, concurrency));
        console.log(`bullmq ×${n}: ${(rows.at(-1)!.photos / rows.at(-1)!.seconds).toFixed(1)} photos/s`);
      }
    }
    const after = await encoderOnly(half, batch, concurrency);
    console.log(`encoder only (after): ${(after.photos / after.seconds).toFixed(1)} photos/s`);
    const encoder: Row = {
      mode: `encoder only (batch ${batch} ×${concurrency}; mean of before/after)`,
      photos: before.photos + after.photos,
      faces: before.faces + after.faces,
      seconds: before.seconds + after.seconds,
      peakRssMb: Math.max(before.peakRssMb, after.peakRssMb),
    };
    rows.unshift(
      { ...before, mode: 'encoder only, before (every 2nd photo)' },
      { ...after, mode: 'encoder only, after (every 2nd photo)' },
      encoder,
    );
    const base = encoder.photos / encoder.seconds;
    const printable = rows.map((r) => ({
      mode: r.mode,
      photos: r.photos,
      faces: r.faces,
      seconds: r.seconds.toFixed(1),
      'photos/s': (r.photos / r.seconds).toFixed(1),
      'faces/s': (r.faces / r.seconds).toFixed(1),
      efficiency: (r.photos / r.seconds / base).toFixed(2),
      'peak RSS MB': r.peakRssMb.toFixed(0),
    }));
    console.log(table(printable));
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    console.log(
      `${cpus().length} cores (${cpus()[0]?.model}); load average at the end ${load}; batch ${batch}, concurrency ${concurrency}; ` +
        'efficiency = photos/s ÷ encoder-only photos/s in this run',
    );
    const file = await writeResults('index', {
      date: new Date().toISOString(),
      cpu: cpus()[0]?.model,
      cores: cpus().length,
      load,
      batch,
      concurrency,
      rows: printable,
    });
    console.log(`wrote ${file}`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
