/**
 * `npm run bench -- ann [--sizes=100000,1000000] [--dtypes=f32] [--queries=300] [--dims=256]
 *                      [--connectivity=32] [--expansion-add=128] [--ef=768[,128,…]]
 *                      [--data=random|clustered|fer2013] [--model=<manifest.json>]
 *                      [--store=embedded[,qdrant]]`
 *
 * `--store=qdrant` measures a private Qdrant server (QDRANT_BIN, started per size/dtype on
 * loopback with its own storage; test/harness/qdrant.ts) through fever's QdrantVectorStore, the
 * same points, queries and settings (m, ef_construct, hnsw_ef); dtype i8 there is Qdrant's int8
 * scalar quantisation (quantised copy in RAM, float32 vectors on disk for re-scoring). Its build
 * time runs until the optimizer has indexed every point (collection status green); RSS and disk
 * are the Qdrant server's (its process RSS growth from the empty collection, its storage folder).
 *
 * The embedded vector store (usearch HNSW behind EmbeddedVectorStore, default settings) against
 * exact brute-force search over the same random unit vectors, in the same run:
 * - build: wall time of store.upsert() of every point (validation, write-ahead log with fsync
 *   per 1024-point batch, HNSW insertion on all cores) plus the snapshot written by flush();
 * - query: p50/p99 latency of single searches (k = 10) and recall@10 against the exact top 10,
 *   unfiltered and with a label filter that keeps 1 point in 7;
 * - exact: the store's own exhaustive scan ({exact: true}) and usearch's native SIMD exact search;
 * - memory: RSS growth over the build (the bench's own copy of the data excluded) and on disk.
 * Random vectors on the sphere (--data=random, the default) are the hardest case for HNSW: no
 * structure, every point nearly equidistant. --data=clustered adds structure like real embeddings;
 * --data=fer2013 is real ones: the bundled model's embeddings of the FER2013 training crops
 * (28 709; the last --queries of them, shuffled, are the held-out queries, so --sizes is at most
 * 28 709 − queries); `--model` embeds them with another expression model instead (a learned head,
 * for dimension against size and speed; --dims, when given, must be the model's). Each size/dtype runs in a child
 * process so RSS figures do not leak into each other. Rows land in bench/results/ann.json,
 * replacing earlier rows of the same data, model, size and dtype.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrivateQdrant, qdrantBinary } from '@fever/test/harness';
import { EmbeddedVectorStore, type PointPayload, QdrantVectorStore, type VectorStore } from '@fever/vectors';
import { clusteredUnitVectors, randomUnitVectors, testId } from '@fever/vectors/testing';
import { type BatchMatches, exactSearch, MetricKind } from 'usearch';
import { fer2013Embeddings } from './data/fer2013.ts';
import { resultsPath, table } from './report.ts';

type Dtype = 'f32' | 'f16' | 'i8';
type Dataset = 'random' | 'clustered' | 'fer2013';
type StoreKind = 'embedded' | 'qdrant';
const LABELS = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'];
const K = 10;

interface Row {
  /** Absent in rows written before Qdrant was measured: embedded. */
  store?: StoreKind;
  data: Dataset;
  /** For fer2013: the model that embedded the faces, id@version. */
  model?: string;
  size: number;
  dtype: Dtype;
  /** HNSW build settings: M (connectivity), efConstruction (expansionAdd); ef is in `method`. */
  hnsw: string;
  method: string;
  build_s: number | null;
  vectors_per_s: number | null;
  p50_ms: number;
  p99_ms: number;
  recall_at_10: number | null;
  speedup_vs_exact: number | null;
  rss_mb: number | null;
  disk_mb: number | null;
}

function arg(args: string[], name: string, fallback: string): string {
  return args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
}

export default async function annBench(args: string[]): Promise<void> {
  const child = arg(args, 'child', '');
  if (child) return runOne(args, child);

  const sizes = arg(args, 'sizes', '100000,1000000').split(',').map(Number);
  const dtypes = arg(args, 'dtypes', 'f32').split(',') as Dtype[];
  const stores = arg(args, 'store', 'embedded').split(',') as StoreKind[];
  for (const st of stores) {
    if (st !== 'embedded' && st !== 'qdrant')
      throw new Error(`--store takes embedded and/or qdrant, got ${st}`);
  }
  if (stores.includes('qdrant')) {
    const q = qdrantBinary();
    if (q.bin === undefined) throw new Error(`--store=qdrant needs a Qdrant binary: ${q.reason}`);
  }
  // Embeds the crops once, here, so the children only read the cache.
  const model = arg(args, 'model', '');
  if (model && arg(args, 'data', 'random') !== 'fer2013') throw new Error('--model needs --data=fer2013');
  if (model || arg(args, 'data', 'random') === 'fer2013') await fer2013Embeddings(model || undefined);
  const rows: Row[] = [];
  for (const size of sizes) {
    for (const dtype of dtypes) {
      for (const store of stores) {
        if (store === 'qdrant' && dtype === 'f16') {
          console.error('ann: Qdrant has no f16 graph here (f32 and i8 only): skipped');
          continue;
        }
        console.error(
          `ann: ${store}, ${size} × ${model ? model : `${arg(args, 'dims', '256')}-d`}, ${dtype} …`,
        );
        rows.push(...(await inChild(args, `${size}:${dtype}:${store}`)));
      }
    }
  }
  console.log(table(rows.map(display)));

  const { dir, file } = resultsPath('ann');
  await mkdir(dir, { recursive: true });
  let previous: Row[] = [];
  try {
    previous = (JSON.parse(readFileSync(file, 'utf8')) as { rows: Row[] }).rows ?? [];
  } catch {
    // First run.
  }
  const key = (r: Row) =>
    `${r.store ?? 'embedded'}:${r.data ?? 'random'}:${r.model ?? ''}:${r.size}:${r.dtype}`;
  const done = new Set(rows.map(key));
  const merged = [...previous.filter((r) => !done.has(key(r))), ...rows];
  merged.sort(
    (a, b) => (a.data ?? '').localeCompare(b.data ?? '') || a.size - b.size || a.dtype.localeCompare(b.dtype),
  );
  await writeFile(
    file,
    `${JSON.stringify(
      {
        bench: 'ann',
        machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version },
        updated: new Date().toISOString(),
        args,
        rows: merged,
      },
      null,
      2,
    )}\n`,
  );
  console.error(`wrote ${file}`);
}

function display(r: Row): Record<string, string | number> {
  const f = (v: number | null, digits: number) => (v === null ? '' : v.toFixed(digits));
  return {
    store: r.store ?? 'embedded',
    data: r.model ? `${r.data} (${r.model})` : (r.data ?? 'random'),
    vectors: r.size.toLocaleString('en-US'),
    dtype: r.dtype,
    hnsw: r.hnsw ?? '',
    method: r.method,
    'build s': f(r.build_s, 1),
    'vec/s': f(r.vectors_per_s, 0),
    'p50 ms': f(r.p50_ms, 2),
    'p99 ms': f(r.p99_ms, 2),
    'recall@10': f(r.recall_at_10, 4),
    'vs exact':
      r.speedup_vs_exact === null ? '' : `${r.speedup_vs_exact.toFixed(r.speedup_vs_exact < 10 ? 2 : 0)}×`,
    'RSS MB': f(r.rss_mb, 0),
    'disk MB': f(r.disk_mb, 0),
  };
}

/** Runs one size/dtype in a fresh process and reads its rows from the last stdout line. */
function inChild(args: string[], spec: string): Promise<Row[]> {
  const runTs = fileURLToPath(new URL('./run.ts', import.meta.url));
  const passThrough = args.filter(
    (a) => !a.startsWith('--sizes=') && !a.startsWith('--dtypes=') && !a.startsWith('--store='),
  );
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', runTs, 'ann', `--child=${spec}`, ...passThrough],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    proc.on('error', reject);
    proc.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('[')) reject(new Error(`ann child ${spec} failed (exit ${code})`));
      else resolve(JSON.parse(last) as Row[]);
    });
  });
}

async function runOne(args: string[], spec: string): Promise<void> {
  const [sizeText, dtypeText, storeText] = spec.split(':');
  const size = Number(sizeText);
  const dtype = dtypeText as Dtype;
  const storeKind = (storeText ?? 'embedded') as StoreKind;
  const queryCount = Number(arg(args, 'queries', '300'));
  // Defaults are the store's own; the flags exist to trade build time for recall at 1M.
  const connectivity = Number(arg(args, 'connectivity', '32'));
  const expansionAdd = Number(arg(args, 'expansion-add', '128'));
  // Several ef values are measured on one build: the store is reopened (from its snapshot) per value.
  const efs = arg(args, 'ef', '768').split(',').map(Number);
  const hnsw = `M${connectivity} efC${expansionAdd}`;
  const log = (msg: string) => console.error(`  [${storeKind} ${size}/${dtype}] ${msg}`);

  const dataset = arg(args, 'data', 'random') as Dataset;
  const { data, queries, dims, model } = await vectorsFor(
    dataset,
    size,
    queryCount,
    arg(args, 'dims', ''),
    arg(args, 'model', '') || undefined,
  );
  const labelOf = (i: number) => LABELS[i % LABELS.length]!;
  const query = (q: number) => queries.subarray(q * dims, (q + 1) * dims);

  // Ground truth: usearch's exact search over the original f32 data, all queries in one call.
  let t = performance.now();
  const truth = exactSearch(data, queries, dims, K, MetricKind.Cos, 0) as BatchMatches;
  log(`ground truth in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const truthOf = (q: number) => new Set(Array.from(truth.get(q).keys, (key) => testId(Number(key))));
  // Filtered truth: rows of label 'happy' only (i % 7 === 1), exact over that subset.
  const happyRows = Int32Array.from({ length: Math.ceil((size - 1) / 7) }, (_, j) => 1 + 7 * j).filter(
    (r) => r < size,
  );
  const happy = new Float32Array(happyRows.length * dims);
  happyRows.forEach((r, j) => {
    happy.set(data.subarray(r * dims, (r + 1) * dims), j * dims);
  });
  const filteredQueries = Math.min(queryCount, 100);
  const happyTruth = exactSearch(
    happy,
    queries.slice(0, filteredQueries * dims),
    dims,
    K,
    MetricKind.Cos,
    0,
  ) as BatchMatches;
  const happyTruthOf = (q: number) =>
    new Set(Array.from(happyTruth.get(q).keys, (key) => testId(happyRows[Number(key)]!)));

  const dir = mkdtempSync(join(tmpdir(), 'fever-bench-ann-'));
  const qdrant = storeKind === 'qdrant' ? await PrivateQdrant.start(qdrantBinary().bin!) : undefined;
  try {
    // Memory and disk of whoever holds the vectors: this process, or the Qdrant server.
    const rss = () => (qdrant ? processRss(qdrant.pid!) : process.memoryUsage().rss);
    const storage = qdrant ? join(qdrant.dir, 'storage') : dir;
    const open = async (efSearch: number): Promise<VectorStore> =>
      qdrant
        ? new QdrantVectorStore({
            url: qdrant.url,
            m: connectivity,
            efConstruct: expansionAdd,
            efSearch,
            timeoutMs: 600_000,
            ...(dtype === 'i8' ? { quantization: 'int8' as const } : {}),
          })
        : EmbeddedVectorStore.open({ dir, dtype, connectivity, expansionAdd, efSearch });
    let store = await open(efs[0]!);
    await store.ensureCollection({ name: 'bench', dims, distance: 'cosine' });
    const rssBefore = rss();
    t = performance.now();
    const CHUNK = 10_000;
    for (let start = 0; start < size; start += CHUNK) {
      const end = Math.min(size, start + CHUNK);
      const points = [];
      for (let i = start; i < end; i++) {
        const payload: PointPayload = {
          collection: 'bench',
          imageId: `img-${i}`,
          label: labelOf(i),
          score: (i % 1000) / 1000,
          model: 'bench@1',
        };
        points.push({ id: testId(i), vector: data.subarray(i * dims, (i + 1) * dims), payload });
      }
      await store.upsert('bench', points);
      if ((end / CHUNK) % 10 === 0) log(`${end} inserted, ${((performance.now() - t) / 1000).toFixed(0)} s`);
    }
    if (qdrant) await qdrant.waitIndexed(log);
    else await (store as EmbeddedVectorStore).flush();
    const buildSeconds = (performance.now() - t) / 1000;
    const rssMb = (rss() - rssBefore) / 1024 / 1024;
    const diskMb = du(storage) / 1024 / 1024;
    log(
      `built in ${buildSeconds.toFixed(1)} s, +${rssMb.toFixed(0)} MB RSS, ${diskMb.toFixed(0)} MB on disk`,
    );

    type Measured = { p50: number; p99: number; recall: number | null };
    const measure = async (
      n: number,
      run: (q: number) => Promise<string[]>,
      truthFor: ((q: number) => Set<string>) | undefined,
    ): Promise<Measured> => {
      for (let q = 0; q < Math.min(10, n); q++) await run(q); // warm-up
      const times: number[] = [];
      let found = 0;
      for (let q = 0; q < n; q++) {
        const start = performance.now();
        const ids = await run(q);
        times.push(performance.now() - start);
        if (truthFor) {
          const want = truthFor(q);
          found += ids.filter((id) => want.has(id)).length;
        }
      }
      times.sort((a, b) => a - b);
      return {
        p50: times[Math.floor(times.length * 0.5)]!,
        p99: times[Math.min(times.length - 1, Math.floor(times.length * 0.99))]!,
        recall: truthFor ? found / (n * K) : null,
      };
    };

    // Exhaustive scans are slow at 1M: fewer queries suffice for their latency.
    const exactQueries = Math.min(queryCount, size >= 500_000 ? 30 : 100);
    const scan = await measure(
      exactQueries,
      async (q) => (await store.search('bench', query(q), { k: K, exact: true })).map((h) => h.id),
      truthOf,
    );
    log(`store exact scan p50 ${scan.p50.toFixed(1)} ms`);
    const native = await measure(
      exactQueries,
      // A copy: usearch's exactSearch ignores a subarray's byte offset (its Index methods do not).
      async (q) =>
        Array.from(exactSearch(data, query(q).slice(), dims, K, MetricKind.Cos, 1).keys, (k) =>
          testId(Number(k)),
        ),
      truthOf,
    );
    const graph: { ef: number; ann: Measured; filtered: Measured }[] = [];
    for (const [i, ef] of efs.entries()) {
      if (i > 0) {
        await store.close();
        store = await open(ef);
      }
      const ann = await measure(
        queryCount,
        async (q) => (await store.search('bench', query(q), { k: K })).map((h) => h.id),
        truthOf,
      );
      log(`ef ${ef}: ann p50 ${ann.p50.toFixed(2)} ms, recall ${ann.recall?.toFixed(4)}`);
      const filtered = await measure(
        filteredQueries,
        async (q) =>
          (await store.search('bench', query(q), { k: K, filter: { labels: ['happy'] } })).map((h) => h.id),
        happyTruthOf,
      );
      graph.push({ ef, ann, filtered });
    }
    await store.close();

    const row = (method: string, m: Measured, built: boolean): Row => ({
      store: storeKind,
      data: dataset,
      model,
      size,
      dtype,
      hnsw,
      method,
      build_s: built ? buildSeconds : null,
      vectors_per_s: built ? size / buildSeconds : null,
      p50_ms: m.p50,
      p99_ms: m.p99,
      recall_at_10: m.recall,
      speedup_vs_exact: native.p50 / m.p50,
      rss_mb: built ? rssMb : null,
      disk_mb: built ? diskMb : null,
    });
    const rows = [
      ...graph.flatMap(({ ef, ann, filtered }, i) => [
        row(`HNSW ef=${ef} (store.search)`, ann, i === 0),
        row(`HNSW ef=${ef} + label filter (1 in 7)`, filtered, false),
      ]),
      row('exact: store scan {exact:true}', scan, false),
      row('exact: usearch native SIMD, 1 thread', native, false),
    ];
    process.stdout.write(`${JSON.stringify(rows)}\n`);
  } finally {
    await qdrant?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Resident memory of a process (VmRSS), in bytes. */
function processRss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** The indexed vectors and the queries (not among them) of one data set. */
async function vectorsFor(
  dataset: Dataset,
  size: number,
  queryCount: number,
  /** --dims as given ('' when not): 256 by default; fer2013 takes its model's and checks it. */
  dimsFlag: string,
  modelManifest: string | undefined,
): Promise<{ data: Float32Array; queries: Float32Array; dims: number; model?: string }> {
  const dims = Number(dimsFlag || 256);
  if (dataset === 'clustered') {
    return {
      data: clusteredUnitVectors(size, dims, 42),
      queries: clusteredUnitVectors(queryCount, dims, 4242),
      dims,
    };
  }
  if (dataset === 'random')
    return {
      data: randomUnitVectors(size, dims, 42),
      queries: randomUnitVectors(queryCount, dims, 4242),
      dims,
    };
  if (dataset !== 'fer2013') throw new Error(`--data must be random, clustered or fer2013, got ${dataset}`);
  const real = await fer2013Embeddings(modelManifest);
  if (dimsFlag && real.dims !== dims)
    throw new Error(`the FER2013 embeddings have ${real.dims} dims, not ${dims}`);
  if (size + queryCount > real.count) {
    throw new Error(`--data=fer2013 holds ${real.count} faces: --sizes + --queries must not exceed it`);
  }
  const d = real.dims;
  // Copies: usearch's exactSearch ignores a view's byte offset.
  return {
    data: real.vectors.slice(0, size * d),
    queries: real.vectors.slice((real.count - queryCount) * d, real.count * d),
    dims: d,
    model: modelManifest ? real.model : undefined,
  };
}

function du(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((sum, entry) => sum + du(join(path, entry)), 0);
}
