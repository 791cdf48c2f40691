/**
 * `npm run bench -- query [--faces=100000] [--data=clustered|random] [--duration=10]
 *                         [--warmup=20] [--concurrency=1,8,32] [--ef=…] [--rebuild]
 *                         [--store=embedded[,qdrant]]`
 *
 * `--store=qdrant` puts the vectors in a private Qdrant server (QDRANT_BIN, on loopback, fresh
 * storage: its data set is built every run; test/harness/qdrant.ts) and keeps the metadata in
 * PGlite, so the rows differ from the embedded ones only in the vector store. Its results go to
 * bench/results/query-qdrant.json.
 *
 * The query API under load: search by indexed face id (GET /faces/{id}/similar?k=10) and by an
 * uploaded ~1 MP photo (POST /search?k=10), at each concurrency, against `fever serve` in a child
 * process on loopback, driven by autocannon (this process). The same queries are then called
 * in-process on SearchService (no HTTP) in the same run, so the difference is the HTTP overhead
 * (parsing, JSON, the socket, and autocannon sharing the machine with the server).
 *
 * The rows measure a server in its steady state: each phase starts with `--warmup` seconds of
 * by-id queries at concurrency 8 (the same random ids), which fill what a running server has
 * warm: PGlite's buffer cache (pages it has not cached yet are read slowly), SearchService's
 * row cache, the JIT. Those first seconds after the start are reported on their own.
 *
 * Data: `--faces` synthetic faces, 256-d unit vectors, 50 per image, random labels and detection
 * scores, plus the real faces of face-api's sample photos, in the embedded mode (PGlite +
 * usearch) under .fever/bench-query-<data>-<faces>/, built once and reused (`--rebuild` builds it
 * again). `--data=clustered` (default): vectors around 1 000 centres, structure like real face
 * embeddings have; `--data=random`: uniform on the sphere, the worst case for HNSW. The server
 * and the in-process runtime use the configured HNSW beam (FEVER_VECTOR_EF_SEARCH, if set in the
 * environment, else the config default; FEVER_VECTOR_DTYPE picks the graph's storage type when the
 * data set is built). Then a breakdown of one query's time by stage (wall and
 * CPU time), and the vector search alone at other beam widths (`--ef=768,256,128,64,32`) with its
 * recall@10 against an exact scan. Results: bench/results/query.json.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, openRuntime, SearchService, type ServingRuntime } from '@fever/core';
import { samplePhotos } from '@fever/encoder/testing';
import type { NewFace } from '@fever/metadata';
import { indexPhotos } from '@fever/query-api/testing';
import { facePointId, parseConfig } from '@fever/schema';
import { CLI, PrivateQdrant, qdrantBinary } from '@fever/test/harness';
import { EmbeddedVectorStore, type Point, QdrantVectorStore, type VectorStore } from '@fever/vectors';
import { clusteredUnitVectors, prng, randomUnitVectors } from '@fever/vectors/testing';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { table, writeResults } from './report.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const LABELS = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'];
const FACES_PER_IMAGE = 50;
const K = 10;

interface Row {
  query: 'by-id' | 'by-upload';
  path: 'http' | 'in-process';
  concurrency: number;
  requests: number;
  'req/s': number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  /** 1-minute load average when the row finished: other work on the machine shows here. */
  load: number;
}

function arg(args: string[], name: string, fallback: string): string {
  return args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
}

type Data = 'clustered' | 'random';

type StoreKind = 'embedded' | 'qdrant';
/** The private Qdrant of a `--store=qdrant` run while it lasts. */
let qdrantServer: PrivateQdrant | undefined;

/** The server's environment and the in-process runtime's config: the same settings for both. */
function benchEnv(dataDir: string): Record<string, string> {
  return {
    ...(qdrantServer ? { QDRANT_URL: qdrantServer.url } : {}),
    FEVER_DATA_DIR: dataDir,
    FEVER_LOG_LEVEL: 'warn',
    FEVER_DEVICE: 'cpu',
    FEVER_VECTOR_EF_SEARCH: process.env.FEVER_VECTOR_EF_SEARCH ?? '',
    FEVER_VECTOR_DTYPE: process.env.FEVER_VECTOR_DTYPE ?? '',
  };
}

function configFor(dataDir: string) {
  return parseConfig(benchEnv(dataDir));
}

export default async function queryBench(args: string[]): Promise<void> {
  const stores = arg(args, 'store', 'embedded').split(',') as StoreKind[];
  for (const store of stores) {
    if (store === 'embedded') {
      await runQueryBench(args, store);
      continue;
    }
    if (store !== 'qdrant') throw new Error(`--store takes embedded and/or qdrant, got ${store}`);
    const q = qdrantBinary();
    if (q.bin === undefined) throw new Error(`--store=qdrant needs a Qdrant binary: ${q.reason}`);
    const server = await PrivateQdrant.start(q.bin);
    qdrantServer = server;
    try {
      await runQueryBench(args, store);
    } finally {
      qdrantServer = undefined;
      await server.stop();
    }
  }
}

async function runQueryBench(args: string[], store: StoreKind): Promise<void> {
  const faces = Number(arg(args, 'faces', '100000'));
  const data = arg(args, 'data', 'clustered') as Data;
  if (data !== 'clustered' && data !== 'random')
    throw new Error(`--data must be clustered or random, got ${data}`);
  const duration = Number(arg(args, 'duration', '10'));
  const warmup = Number(arg(args, 'warmup', '20'));
  const levels = arg(args, 'concurrency', '1,8,32').split(',').map(Number);
  const dataDir = join(REPO, '.fever', `bench-query-${data}-${faces}${store === 'qdrant' ? '-qdrant' : ''}`);
  const { vectorEfSearch: efSearch, vectorDtype: dtype } = configFor(dataDir);
  const marker = join(dataDir, 'bench-ready.json');
  const built = existsSync(marker)
    ? (JSON.parse(await readFile(marker, 'utf8')) as { ids: string[]; dtype?: string })
    : undefined;
  // A data set built with another graph type would measure that type: build it again.
  // A fresh Qdrant holds nothing yet: its data set is built every run.
  if (args.includes('--rebuild') || built?.dtype !== dtype || store === 'qdrant') {
    await buildDataset(dataDir, faces, data, marker);
    if (qdrantServer) await qdrantServer.waitIndexed((msg) => console.error(msg));
  }
  const { ids } = JSON.parse(await readFile(marker, 'utf8')) as { ids: string[] };
  const photo = await onePixelMegaPhoto();
  const rows: Row[] = [];
  /** The by-id warm-up of each phase: the first seconds after a start, caches cold. */
  const coldStart: Row[] = [];
  let breakdown: Record<string, number> = {};

  // 1. Over HTTP: `fever serve` in its own process, autocannon here.
  const server = await startServer(dataDir);
  try {
    const pick = prng(7);
    const idPath = () => `/faces/${ids[Math.floor(pick() * ids.length)]}/similar?k=${K}`;
    for (let i = 0; i < 3; i++) await postPhoto(server.url, photo); // loads the encoder
    coldStart.push(
      await cannon('by-id', server.url, 8, warmup, {
        method: 'GET',
        setupRequest: (req) => ({ ...req, path: idPath() }),
      }),
    );
    for (const connections of levels) {
      rows.push(
        await cannon('by-id', server.url, connections, duration, {
          method: 'GET',
          setupRequest: (req) => ({ ...req, path: idPath() }),
        }),
      );
    }
    for (const connections of levels) {
      rows.push(
        await cannon('by-upload', server.url, connections, duration, {
          method: 'POST',
          path: `/search?k=${K}`,
          headers: { 'content-type': 'image/jpeg' },
          body: Buffer.from(photo),
        }),
      );
    }
  } finally {
    await server.stop();
  }

  // 2. In-process: the same searches on SearchService, no HTTP (the server has released the data dir).
  const runtime = await openRuntime(configFor(dataDir), { logger: createLogger('warn') });
  try {
    const search = new SearchService(runtime);
    const pick = prng(7);
    const byId = () => search.similarTo(ids[Math.floor(pick() * ids.length)]!, { k: K });
    const byUpload = () => search.byImage(photo, { k: K });
    for (let i = 0; i < 3; i++) await byUpload();
    coldStart.push(await inProcess('by-id', 8, warmup, byId));
    for (const c of levels) rows.push(await inProcess('by-id', c, duration, byId));
    for (const c of levels) rows.push(await inProcess('by-upload', c, duration, byUpload));
    breakdown = await stages(runtime, search, ids, photo);
  } finally {
    await runtime.close();
  }
  const efSweep = await sweepEf(dataDir, ids, arg(args, 'ef', '768,256,128,64,32').split(',').map(Number));

  rows.sort(
    (a, b) => a.query.localeCompare(b.query) || a.concurrency - b.concurrency || a.path.localeCompare(b.path),
  );
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  console.log(
    `\nquery API (${store} vector store), ${faces.toLocaleString('en')} synthetic faces (${data} vectors) + the sample photos' faces, ` +
      `HNSW ef ${efSearch}, ${dtype} graph (new data sets), k=${K}, ${duration} s per row`,
  );
  console.log(`machine: ${machine}`);
  console.log(`by-upload photo: ${photo.length} bytes JPEG, ${PHOTO.width}×${PHOTO.height}\n`);
  console.log(table(rows as unknown as Record<string, string | number>[]));
  console.log(`\nthe first ${warmup} s after a start (the warm-up of each phase above; caches cold):`);
  console.log(table(coldStart as unknown as Record<string, string | number>[]));
  console.log(
    '\nwhere the time goes, in-process, one query at a time (mean ms of wall time; CPU ms: all threads):',
  );
  console.log(table([Object.fromEntries(Object.entries(breakdown).map(([k, v]) => [k, round(v, 2)]))]));
  console.log(
    '\nthe ANN search alone at other beam widths (same store, same by-id queries; recall@10 vs exact):',
  );
  console.log(table(efSweep as unknown as Record<string, string | number>[]));
  const file = await writeResults(store === 'qdrant' ? 'query-qdrant' : 'query', {
    date: new Date().toISOString(),
    store,
    machine,
    faces,
    data,
    efSearch,
    dtype,
    k: K,
    duration,
    warmup,
    photo: { bytes: photo.length, ...PHOTO },
    rows,
    coldStart,
    breakdown,
    efSweep,
  });
  console.log(`\nwritten: ${file}`);
}

const PHOTO = { width: 1224, height: 816 };

/** face-api's sample1 (1920×1280) scaled to ~1 MP, as a phone upload would be. */
async function onePixelMegaPhoto(): Promise<Uint8Array<ArrayBuffer>> {
  const out = await sharp(samplePhotos()[0]!)
    .resize(PHOTO.width, PHOTO.height)
    .jpeg({ quality: 90 })
    .toBuffer();
  return new Uint8Array(out);
}

async function buildDataset(dataDir: string, count: number, data: Data, marker: string): Promise<void> {
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true });
  const t0 = performance.now();
  const runtime: ServingRuntime = await openRuntime(configFor(dataDir), { logger: createLogger('warn') });
  try {
    const { metadata, vectors } = runtime;
    const model = await runtime.model();
    await indexPhotos(runtime, samplePhotos(), { samples: [1, 2, 3, 4, 5, 6] });
    const collection = await metadata.collections.create({ name: 'synthetic', description: 'bench data' });
    const photos = samplePhotos();
    const rand = prng(42);
    const ids: string[] = [];
    const images = Math.ceil(count / FACES_PER_IMAGE);
    const CHUNK = 10_000;
    let rows: NewFace[] = [];
    let points: Point[] = [];
    // Clustered chunks share their centres (they depend only on dims), so the set is one population.
    const unitVectors = data === 'clustered' ? clusteredUnitVectors : randomUnitVectors;
    let vectorsLeft = unitVectors(Math.min(CHUNK, count), model.dims, 1);
    let vectorBase = 0;
    const flush = async () => {
      await metadata.faces.insertMany(rows);
      await vectors.upsert(model.vectorCollection, points);
      rows = [];
      points = [];
    };
    let made = 0;
    for (let i = 0; i < images && made < count; i++) {
      const sha256 = createHash('sha256').update(`bench-image-${i}`).digest('hex');
      const { image } = await metadata.images.upsert({
        collectionId: collection.id,
        sha256,
        uri: photos[i % photos.length]!,
        sizeBytes: 1,
      });
      const n = Math.min(FACES_PER_IMAGE, count - made);
      for (let j = 0; j < n; j++, made++) {
        if (made - vectorBase >= CHUNK) {
          vectorBase = made;
          vectorsLeft = unitVectors(Math.min(CHUNK, count - made), model.dims, 1 + made);
        }
        const off = (made - vectorBase) * model.dims;
        const id = facePointId({
          collectionId: collection.id,
          imageSha256: sha256,
          faceIndex: j,
          modelId: model.id,
          modelVersion: model.version,
        });
        const label = LABELS[Math.floor(rand() * LABELS.length)]!;
        const score = 0.5 + rand() / 2;
        const probs = LABELS.map((l) => (l === label ? 0.7 : 0.05));
        rows.push({
          id,
          imageId: image.id,
          collectionId: collection.id,
          faceIndex: j,
          box: { x: 40 * (j % 10), y: 40 * Math.floor(j / 10), width: 120, height: 120 },
          detectionScore: score,
          probs,
          label,
          modelId: model.id,
          modelVersion: model.version,
        });
        points.push({
          id,
          vector: vectorsLeft.slice(off, off + model.dims),
          payload: {
            collection: 'synthetic',
            imageId: String(image.id),
            label,
            score,
            model: `${model.id}@${model.version}`,
          },
        });
        if (ids.length < 5000 && rand() < 0.1) ids.push(id);
      }
      if (rows.length >= 5000) await flush();
      if (i % 200 === 0) process.stderr.write(`\rbuilding: ${made.toLocaleString('en')} faces`);
    }
    await flush();
    await writeFile(marker, JSON.stringify({ faces: count, data, dtype: runtime.config.vectorDtype, ids }));
    process.stderr.write(
      `\rbuilt ${count.toLocaleString('en')} faces in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`,
    );
  } finally {
    await runtime.close();
  }
}

async function startServer(dataDir: string): Promise<{ url: string; stop(): Promise<void> }> {
  const child: ChildProcess = spawn(process.execPath, [CLI, 'serve', '--port', '0'], {
    cwd: REPO,
    env: { ...process.env, ...benchEnv(dataDir), FEVER_HOST: '127.0.0.1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /serving on (http:\/\/[\d.]+:\d+)/.exec(stderr);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`fever serve exited (${code}):\n${stderr}`)));
  });
  for (let i = 0; i < 240; i++) {
    if ((await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function postPhoto(url: string, photo: Uint8Array<ArrayBuffer>): Promise<void> {
  const res = await fetch(`${url}/search?k=${K}`, {
    method: 'POST',
    body: photo,
    headers: { 'content-type': 'image/jpeg' },
  });
  if (res.status !== 200) throw new Error(`warm-up upload: ${res.status} ${await res.text()}`);
}

async function cannon(
  query: Row['query'],
  url: string,
  connections: number,
  duration: number,
  request: autocannon.Request,
): Promise<Row> {
  const result = await autocannon({ url, connections, duration, requests: [request] });
  const row: Row = {
    query,
    path: 'http',
    concurrency: connections,
    requests: result.requests.total,
    'req/s': round(result.requests.average, 1),
    p50_ms: round(result.latency.p50, 2),
    p99_ms: round(result.latency.p99, 2),
    errors: result.errors + result.non2xx + result.timeouts,
    load: round(loadavg()[0]!, 1),
  };
  process.stderr.write(`${JSON.stringify(row)}\n`);
  return row;
}

/** `concurrency` loops calling `fn` back to back for `duration` seconds. */
async function inProcess(
  query: Row['query'],
  concurrency: number,
  duration: number,
  fn: () => Promise<unknown>,
): Promise<Row> {
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + duration * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        try {
          await fn();
          latencies.push(performance.now() - t);
        } catch {
          errors++;
        }
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  const row: Row = {
    query,
    path: 'in-process',
    concurrency,
    requests: latencies.length,
    'req/s': round(latencies.length / seconds, 1),
    p50_ms: round(q(0.5), 2),
    p99_ms: round(q(0.99), 2),
    errors,
    load: round(loadavg()[0]!, 1),
  };
  process.stderr.write(`${JSON.stringify(row)}\n`);
  return row;
}

/** Mean time per stage over single queries: what the by-id and by-upload latencies are made of. */
async function stages(
  runtime: ServingRuntime,
  search: SearchService,
  ids: string[],
  photo: Uint8Array<ArrayBuffer>,
): Promise<Record<string, number>> {
  const model = await runtime.model();
  const n = 200;
  const uploads = 10;
  const sum: Record<string, number> = {
    'id: vector get': 0,
    'id: ANN search': 0,
    'id: metadata (cold)': 0,
    'id: total (rows cached)': 0,
    'upload: decode': 0,
    'upload: detect+embed': 0,
    'upload: search+hydrate': 0,
    'upload: total': 0,
    'id: CPU ms': 0,
    'upload: CPU ms': 0,
  };
  const cold = new SearchService(runtime, { rowCacheTtlMs: 0 });
  for (let i = 0; i < n; i++) {
    const id = ids[(i * 97) % ids.length]!;
    let t = performance.now();
    const [point] = await runtime.vectors.get(model.vectorCollection, [id]);
    sum['id: vector get']! += performance.now() - t;
    t = performance.now();
    const hits = await runtime.vectors.search(model.vectorCollection, point!.vector, {
      k: K,
      excludeIds: [id],
    });
    sum['id: ANN search']! += performance.now() - t;
    t = performance.now();
    await cold.hydrate(model, hits);
    sum['id: metadata (cold)']! += performance.now() - t;
    await search.similarTo(id, { k: K }); // fills the row cache for the face and its neighbours
    t = performance.now();
    const cpu = process.cpuUsage();
    await search.similarTo(id, { k: K });
    sum['id: total (rows cached)']! += performance.now() - t;
    sum['id: CPU ms']! += cpuMs(cpu);
  }
  // Uploads after the by-id loop: onnxruntime's threads spin for a while after each run and
  // would count as by-id CPU time.
  for (let i = 0; i < uploads; i++) {
    const t = performance.now();
    const cpu = process.cpuUsage();
    const r = await search.byImage(photo, { k: K });
    sum['upload: CPU ms']! += cpuMs(cpu);
    sum['upload: total']! += performance.now() - t;
    sum['upload: decode']! += r.timings.decodeMs;
    sum['upload: detect+embed']! += r.timings.encodeMs;
    sum['upload: search+hydrate']! += r.timings.searchMs;
  }
  return Object.fromEntries(Object.entries(sum).map(([k, v]) => [k, v / (k.startsWith('id') ? n : uploads)]));
}

/** The store's search at other efSearch values: what a smaller beam would buy, and cost in recall. */
async function sweepEf(
  dataDir: string,
  ids: string[],
  efs: number[],
): Promise<{ ef: number; ms_per_query: number; 'recall@10': number }[]> {
  const out = [];
  for (const ef of efs) {
    const store: VectorStore = qdrantServer
      ? new QdrantVectorStore({ url: qdrantServer.url, efSearch: ef })
      : await EmbeddedVectorStore.open({ dir: join(dataDir, 'vectors'), efSearch: ef });
    try {
      const name = Object.values(await store.listAliases())[0]!;
      const points = await store.get(name, ids.slice(0, 200));
      const t = performance.now();
      for (const p of points) await store.search(name, p.vector, { k: K, excludeIds: [p.id] });
      const ms = (performance.now() - t) / points.length;
      let recall = 0;
      const checked = points.slice(0, 50);
      for (const p of checked) {
        const got = await store.search(name, p.vector, { k: K, excludeIds: [p.id] });
        const exact = new Set(
          (await store.search(name, p.vector, { k: K, excludeIds: [p.id], exact: true })).map((h) => h.id),
        );
        recall += got.filter((h) => exact.has(h.id)).length / K;
      }
      out.push({ ef, ms_per_query: round(ms, 2), 'recall@10': round(recall / checked.length, 3) });
    } finally {
      await store.close();
    }
  }
  return out;
}

/**
 * CPU time (user + system, all threads of this process) since `start`: unlike wall time, it
 * hardly depends on what else the machine runs, so it bounds what an idle 2-core machine can do.
 */
function cpuMs(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
